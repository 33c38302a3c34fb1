// expect: a hook returns void \(observe only\), a verdict \(cm::next, cm::reject, cm::reply\(\.\.\.\), \.\.\.\) or an awaitable of one
// A hook that returns bool ("blocked?"): the MTA needs a verdict, not a truth value.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::on_rcpt([](const cm::rcpt& r) -> cm::verdict {
        if (r.address == "<postmaster>") return cm::next;
        return cm::reject;
    })
#else
    cm::on_rcpt([](const cm::rcpt& r) { return r.address != "<postmaster>"; })
#endif
);
