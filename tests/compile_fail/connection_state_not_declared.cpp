// expect: ctx.connection\(\) needs a state: declare cm::milter<cm::connection_scoped<T>>
// ctx.connection() in a milter that declared no per-connection state.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

struct per_connection {
    int messages = 0;
};

#ifdef CPPMILTER_FIXED
inline constexpr auto m = cm::milter<cm::connection_scoped<per_connection>>(
#else
inline constexpr auto m = cm::milter(
#endif
    cm::on_mail_from([](const cm::mail_from&, auto& ctx) { ++ctx.connection().messages; }));
