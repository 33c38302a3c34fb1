// expect: member named [^ ]*address
// A hook whose only parameter is generic (`const auto& r`): the library takes a lone `auto`
// parameter for the context (as in on_abort([](auto& ctx) {...})), so `r.address` is looked
// up in the context. Not a static_assert: the first error names the context and the member.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::on_rcpt([](const cm::rcpt& r) -> cm::verdict {
#else
    cm::on_rcpt([](const auto& r) -> cm::verdict {
#endif
        if (r.address == "<>") return cm::reject;
        return cm::next;
    }));
