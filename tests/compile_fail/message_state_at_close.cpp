// expect: ctx.message\(\) in a close hook: no message is open when the connection ends
// A close hook reading message state: by then the last message was reset at its end.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

struct counts {
    int rcpts = 0;
};
int total_rcpts = 0;

inline constexpr auto m = cm::milter<cm::message_scoped<counts>>(
    cm::on_rcpt([](const cm::rcpt&, auto& ctx) { ++ctx.message().rcpts; }),
#ifdef CPPMILTER_FIXED
    cm::on_end_of_message([](const cm::end_of_message&, auto& ctx) { total_rcpts += ctx.message().rcpts; })
#else
    cm::on_close([](auto& ctx) { total_rcpts += ctx.message().rcpts; })
#endif
);
