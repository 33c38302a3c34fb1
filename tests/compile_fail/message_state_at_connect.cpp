// expect: ctx.message\(\) in a connect or helo hook: there is no message yet
// A helo hook writing message state: the message starts at MAIL FROM, HELO comes before it.
#include <cppmilter/cppmilter.hpp>

#include <string>

namespace cm = cppmilter;

struct state {
    std::string helo;
};

#ifdef CPPMILTER_FIXED
inline constexpr auto m = cm::milter<cm::connection_scoped<state>>(
    cm::on_helo([](const cm::helo_info& h, auto& ctx) { ctx.connection().helo = h.name; }));
#else
inline constexpr auto m = cm::milter<cm::message_scoped<state>>(
    cm::on_helo([](const cm::helo_info& h, auto& ctx) { ctx.message().helo = h.name; }));
#endif
