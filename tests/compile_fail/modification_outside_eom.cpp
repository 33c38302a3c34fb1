// expect: a modification can only be returned at end of message
// A modification returned before end of message: the MTA accepts changes to a message only in
// answer to end of message, so they are results of on_end_of_message, listed in cm::eom<...>.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::on_end_of_message([](const cm::end_of_message&) -> cm::eom<cm::add_header> {
        return cm::add_header{"X-Seen", "yes"};
    })
#else
    cm::on_mail_from([](const cm::mail_from&) { return cm::add_header{"X-Seen", "yes"}; })
#endif
);
