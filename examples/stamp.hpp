// The benchmark milter: every stage continues, end of message adds "X-Bench: 1".
#pragma once

#include <cppmilter/cppmilter.hpp>

namespace examples {
namespace cm = cppmilter;

/// Its hooks can only continue (they return cm::next_t), so the derived negotiation asks the
/// MTA not to wait for their answers (SMFIP_NR_*): only end of message is answered.
inline constexpr auto stamp = cm::milter(
    cm::on_connect([](const cm::connect_info&) { return cm::next; }),
    cm::on_helo([](const cm::helo_info&) { return cm::next; }),
    cm::on_mail_from([](const cm::mail_from&) { return cm::next; }),
    cm::on_rcpt([](const cm::rcpt&) { return cm::next; }),
    cm::on_data([](const cm::data_info&) { return cm::next; }),
    cm::on_header([](const cm::header&) { return cm::next; }),
    cm::on_end_of_headers([](const cm::end_of_headers_info&) { return cm::next; }),
    cm::on_body([](const cm::body_chunk&) { return cm::next; }),
    cm::on_end_of_message([](const cm::end_of_message&) -> cm::eom<cm::add_header> {
        return cm::add_header{"X-Bench", "1"};
    }),
    cm::on_unknown([](const cm::unknown_command&) { return cm::next; }));

/// The same, with hooks typed to decide at run time (cm::verdict): every command is answered,
/// the round trips of a libmilter filter without a negotiate callback.
inline constexpr auto stamp_answering = cm::milter(
    cm::on_connect([](const cm::connect_info&) -> cm::verdict { return cm::next; }),
    cm::on_helo([](const cm::helo_info&) -> cm::verdict { return cm::next; }),
    cm::on_mail_from([](const cm::mail_from&) -> cm::verdict { return cm::next; }),
    cm::on_rcpt([](const cm::rcpt&) -> cm::verdict { return cm::next; }),
    cm::on_data([](const cm::data_info&) -> cm::verdict { return cm::next; }),
    cm::on_header([](const cm::header&) -> cm::verdict { return cm::next; }),
    cm::on_end_of_headers([](const cm::end_of_headers_info&) -> cm::verdict { return cm::next; }),
    cm::on_body([](const cm::body_chunk&) -> cm::verdict { return cm::next; }),
    cm::on_end_of_message([](const cm::end_of_message&) -> cm::eom<cm::add_header> {
        return cm::add_header{"X-Bench", "1"};
    }),
    cm::on_unknown([](const cm::unknown_command&) -> cm::verdict { return cm::next; }));

} // namespace examples
