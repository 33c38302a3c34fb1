// The editor milter: the editable message at work. An end-of-message hook edits headers,
// envelope and body as values, and the framework sends the minimal modifications with the
// MTA's index rules. Which edits it makes is chosen by keywords in the Subject (its
// behaviour is checked end to end against a real Postfix: tests/interop/postfix_e2e.py).
#pragma once

#include <cppmilter/cppmilter.hpp>
#include <cppmilter/mail/encoded_word.hpp>

#include <string>
#include <string_view>

namespace examples {
namespace cm = cppmilter;

inline constexpr auto editor = cm::milter(cm::on_end_of_message(
    [](cm::editable<cm::edit::headers, cm::edit::recipients, cm::edit::sender, cm::edit::body>& msg) {
        const std::string subject{msg.header("Subject").value_or("")};
        auto asks = [&](std::string_view keyword) { return subject.find(keyword) != std::string::npos; };
        if (asks("EDITHDRS")) {
            msg.insert_header(0, "X-Top", "first of all");           // above the MTA's Received
            if (auto at = msg.headers().find("Subject")) msg.insert_header(*at, "X-Before-Subject", "1");
            msg.set_header("X-Change", "changed", 2);                  // the second occurrence
            msg.remove_header("X-Remove");
            msg.append_header("X-Greeting", cm::mail::encode_unstructured("Grüße aus Köln"));
        }
        if (asks("EDITENV")) {
            msg.remove_recipient("<gone@example.test>");
            msg.add_recipient("<added@example.test>");
            msg.set_sender("<new@example.test>");
        }
        if (asks("EDITBODY")) msg.replace_body("edited body\r\n");
    }));

} // namespace examples
