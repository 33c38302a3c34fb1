// expect: a milter is made of stage hooks
// A bare lambda passed to cm::milter: the stage it belongs to is given by cm::on_<stage>(...).
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::on_mail_from([](const cm::mail_from&) { return cm::next; })
#else
    [](const cm::mail_from&) { return cm::next; }
#endif
);
