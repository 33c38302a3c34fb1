// The benchmark milter: every stage continues, end of message adds "X-Bench: 1".
#pragma once

#include <cppmilter/cppmilter.hpp>

namespace examples {
namespace cm = cppmilter;

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

} // namespace examples
