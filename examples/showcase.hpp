// The showcase milter (its behaviour is specified in docs/server.md and exercised end to end
// against a real Postfix): every verdict and every modification, driven by the message.
#pragma once

#include <cppmilter/cppmilter.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

namespace examples {
namespace cm = cppmilter;

namespace showcase_detail {

inline std::string_view strip_brackets(std::string_view a) {
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') return a.substr(1, a.size() - 2);
    return a;
}

inline bool iends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && cm::detail::iequals(s.substr(s.size() - suffix.size()), suffix);
}

inline bool mentions(const cm::message_headers& msg, std::string_view keyword) {
    const auto subjects = msg.all("Subject");
    return std::any_of(subjects.begin(), subjects.end(),
                       [&](std::string_view v) { return v.find(keyword) != std::string_view::npos; });
}

using result = cm::eom<cm::add_header, cm::insert_header, cm::change_header, cm::replace_body, cm::add_rcpt,
                       cm::del_rcpt, cm::change_from, cm::quarantine>;

} // namespace showcase_detail

inline constexpr auto showcase = cm::milter(
    cm::on_mail_from([](const cm::mail_from& m) -> cm::verdict {
        if (showcase_detail::iends_with(showcase_detail::strip_brackets(m.address), "@blocked.example"))
            return cm::reply(550, "5.7.1", "sender blocked");
        return cm::next;
    }),
    cm::on_rcpt([](const cm::rcpt& r) -> cm::verdict {
        const auto address = showcase_detail::strip_brackets(r.address);
        if (cm::detail::iequals(address.substr(0, address.find('@')), "tempfail"))
            return cm::reply(451, "4.7.1", "try later");
        return cm::next;
    }),
    cm::on_end_of_message([](const cm::message_headers& msg) -> showcase_detail::result {
        using showcase_detail::mentions;
        showcase_detail::result r;
        r.add(cm::add_header{"X-Scenario", "seen"});
        if (mentions(msg, "REPLACEBODY")) r.add(cm::replace_body{"body replaced\r\n"});
        if (mentions(msg, "ADDRCPT")) r.add(cm::add_rcpt{"<added@example.test>"});
        if (mentions(msg, "DELRCPT")) r.add(cm::del_rcpt{"<gone@example.test>"});
        if (mentions(msg, "CHGFROM")) r.add(cm::change_from{"<new@example.test>", ""});
        if (mentions(msg, "QUARANTINE")) r.add(cm::quarantine{"held"});
        if (mentions(msg, "CHGHDR")) r.add(cm::change_header{"X-Change", 1, "changed"});
        if (mentions(msg, "INSHDR")) r.add(cm::insert_header{0, "X-First", "1"});
        if (mentions(msg, "DISCARD")) r.set_verdict(cm::discard);
        return r;
    }));

} // namespace examples
