// expect: the second parameter of a hook must be the context: write `auto& ctx`
// A hook whose second parameter is not the context (its type is only known to the library).
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::on_rcpt([](const cm::rcpt&, auto& ctx) { (void)ctx; })
#else
    cm::on_rcpt([](const cm::rcpt&, int ctx) { (void)ctx; })
#endif
);
