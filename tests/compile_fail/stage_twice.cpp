// expect: a stage is given twice in one milter
// Two on_mail_from hooks in one cm::milter: one milter has one hook per stage.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

inline constexpr auto no_bounces = cm::on_mail_from([](const cm::mail_from& m) {
    return m.address == "<>" ? cm::verdict{cm::reject} : cm::verdict{cm::next};
});
inline constexpr auto no_root = cm::on_mail_from([](const cm::mail_from& m) {
    return m.address.starts_with("<root@") ? cm::verdict{cm::reject} : cm::verdict{cm::next};
});

#ifdef CPPMILTER_FIXED
inline constexpr auto m = cm::pipeline(cm::milter(no_bounces), cm::milter(no_root));
#else
inline constexpr auto m = cm::milter(no_bounces, no_root);
#endif
