// expect: this macro is not declared for this stage or an earlier one
// A macro read in on_mail_from but declared for end of message: the MTA sends it only then.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::macros<cm::stage::mail_from, "{auth_authen}">{},
#else
    cm::macros<cm::stage::end_of_message, "{auth_authen}">{},
#endif
    cm::on_mail_from([](const cm::mail_from&, auto& ctx) {
        if (!cm::macro<"{auth_authen}">(ctx)) return cm::verdict{cm::reject};
        return cm::verdict{cm::next};
    }));
