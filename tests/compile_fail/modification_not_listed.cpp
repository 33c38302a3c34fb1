// expect: this modification is not listed in the hook's result type
// An end-of-message hook that adds a modification its cm::eom<...> does not list: the list is
// what negotiation asks the MTA for, so everything the hook may do must be in it.
#include <cppmilter/cppmilter.hpp>

#include <string_view>

namespace cm = cppmilter;

#ifdef CPPMILTER_FIXED
using result = cm::eom<cm::add_header, cm::quarantine>;
#else
using result = cm::eom<cm::add_header>;
#endif

inline constexpr auto m = cm::milter(
    cm::on_end_of_message([](const cm::message_headers& msg) -> result {
        result r;
        r.add(cm::add_header{"X-Checked", "yes"});
        if (msg.header("X-Hold")) r.add(cm::quarantine{"asked for a hold"});
        return r;
    }));
