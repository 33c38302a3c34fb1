// expect: ctx.message\(\) needs a state: declare cm::milter<cm::message_scoped<T>>
// ctx.message() in a milter that declared no per-message state.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

struct counts {
    int rcpts = 0;
};

#ifdef CPPMILTER_FIXED
inline constexpr auto m = cm::milter<cm::message_scoped<counts>>(
#else
inline constexpr auto m = cm::milter(
#endif
    cm::on_rcpt([](const cm::rcpt&, auto& ctx) { ++ctx.message().rcpts; }));
