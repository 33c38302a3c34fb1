// expect: this hook may not edit recipients: declare it in its parameter
// An end-of-message hook that adds a recipient while its editable message declares only
// headers: negotiation would not ask for ADDRCPT.
#include <cppmilter/cppmilter.hpp>

namespace cm = cppmilter;

inline constexpr auto m = cm::milter(
#ifdef CPPMILTER_FIXED
    cm::on_end_of_message([](cm::editable<cm::edit::headers, cm::edit::recipients>& msg) {
#else
    cm::on_end_of_message([](cm::editable<cm::edit::headers>& msg) {
#endif
        msg.append_header("X-Archived", "yes");
        msg.add_recipient("<archive@example.org>");
    }));
