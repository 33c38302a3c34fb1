// expect: the first parameter of an on_rcpt hook must be cm::rcpt const&
// An on_rcpt hook that takes the MAIL FROM event: each stage's hook takes that stage's event.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

struct counts {
    int rcpts = 0;
};

inline constexpr auto m = cm::milter<cm::message_scoped<counts>>(
#ifdef CPPMILTER_FIXED
    cm::on_rcpt([](const cm::rcpt&, auto& ctx) { ++ctx.message().rcpts; })
#else
    cm::on_rcpt([](const cm::mail_from&, auto& ctx) { ++ctx.message().rcpts; })
#endif
);
