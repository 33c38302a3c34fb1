// expect: this macro is not declared for this stage or an earlier one
// cm::macro<"name">(ctx) for a macro the milter never asked the MTA for.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::macros<cm::stage::mail_from, "{auth_authen}">{},
#endif
    cm::on_mail_from([](const cm::mail_from&, auto& ctx) -> cm::verdict {
        if (!cm::macro<"{auth_authen}">(ctx)) return cm::reply(530, "5.7.0", "log in first");
        return cm::next;
    }));
