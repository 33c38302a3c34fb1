// Fuzz target, addresses: arbitrary text through parse_address_list(), parse_mailbox(),
// parse_path(), parse_esmtp_parameters() and the xtext codec. Besides "no crash, no UB, no
// leak" (and no quadratic blow-up: libFuzzer's -timeout), it checks:
//  - every mailbox's raw text is the input at its position; group indices and member ranges
//    agree; an error's position lies inside the input; skipped text comes with an error;
//  - a mailbox's address() parses back to the same local part and domain;
//  - parse_mailbox() succeeds exactly when the list holds one mailbox and no error;
//  - a parsed path's address() parses back to the same path;
//  - ESMTP keywords come back upper-cased, one result per valid argument;
//  - decode_xtext(encode_xtext(x)) == x; to_ascii() of a mailbox's domain is idempotent.
//
// Input layout: the whole input is the text for every parser; for the ESMTP parameters it is
// split at spaces into arguments.
#include "fuzz_common.hpp"

#include <cppmilter/mail/address.hpp>
#include <cppmilter/mail/domain.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mail = cppmilter::mail;
using cppmilter::fuzz::require;

namespace {

bool has_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

void check_address_list(std::string_view text) {
    const mail::address_list_result r = mail::parse_address_list(text);
    if (r.error) require(r.error->position <= text.size(), "address error position past the end");
    require(r.unparsed.empty() || r.error.has_value(), "text skipped without an error");
    for (std::size_t i = 0; i < r.mailboxes.size(); ++i) {
        const mail::mailbox& m = r.mailboxes[i];
        require(m.position <= text.size() && m.raw.size() <= text.size() - m.position &&
                    text.substr(m.position, m.raw.size()) == m.raw,
                "a mailbox's raw text is not the input at its position");
        require(!m.raw.empty() && !m.domain.empty(), "a mailbox without raw text or domain");
        if (m.group) {
            require(*m.group < r.groups.size(), "a mailbox's group index is out of range");
            const mail::group& g = r.groups[*m.group];
            require(i >= g.first && i < g.first + g.size, "a member outside its group's range");
        }
        // Round trip, where the semantic value can be written again: no control characters
        // (a quoted-pair may carry one; address() does not escape them), no domain literal
        // (its quoted-pairs are resolved, its brackets not escaped).
        if (!has_control(m.local_part) && m.domain.front() != '[') {
            const mail::address_list_result again = mail::parse_address_list(m.address());
            require(again.ok() && again.mailboxes.size() == 1, "a mailbox's address() does not parse");
            require(again.mailboxes[0].local_part == m.local_part && again.mailboxes[0].domain == m.domain,
                    "a mailbox's address() parses to another address");
        }
    }
    for (std::size_t g = 0; g < r.groups.size(); ++g) {
        const mail::group& group = r.groups[g];
        require(group.first + group.size <= r.mailboxes.size(), "a group's range is out of range");
        for (std::size_t i = group.first; i < group.first + group.size; ++i)
            require(r.mailboxes[i].group == g, "a group's member names another group");
    }

    const mail::mailbox_result one = mail::parse_mailbox(text);
    require(one.ok() == (r.ok() && r.mailboxes.size() == 1), "parse_mailbox() disagrees with the list");
    if (one.ok()) require(*one.value == r.mailboxes[0], "parse_mailbox() gives another mailbox");

    if (!r.mailboxes.empty()) {
        if (const auto ascii = mail::to_ascii(r.mailboxes[0].domain))
            require(mail::to_ascii(*ascii) == ascii, "to_ascii() is not idempotent");
    }
}

void check_path(std::string_view text) {
    const mail::path_result r = mail::parse_path(text);
    require(r.ok() != r.error.has_value(), "a path is both parsed and failed, or neither");
    if (r.error) {
        require(r.error->position <= text.size(), "path error position past the end");
        return;
    }
    const mail::envelope_path& p = *r.value;
    const mail::path_result again = mail::parse_path("<" + p.address() + ">");
    require(again.ok(), "a path's address() does not parse");
    require(again.value->null == p.null && again.value->local == p.local && again.value->domain == p.domain,
            "a path's address() parses to another path");
}

void check_esmtp(std::string_view text) {
    std::vector<std::string_view> arguments;
    for (std::size_t begin = 0; begin <= text.size();) {
        const std::size_t end = std::min(text.find(' ', begin), text.size());
        arguments.push_back(text.substr(begin, end - begin));
        begin = end + 1;
    }
    const mail::esmtp_parameters_result r = mail::parse_esmtp_parameters(arguments);
    require(r.parameters.size() <= arguments.size(), "more parameters than arguments");
    require(r.ok() == (r.parameters.size() == arguments.size()), "an argument dropped without an error");
    if (r.error) require(r.error->position < arguments.size(), "ESMTP error index out of range");
    for (const mail::esmtp_parameter& p : r.parameters) {
        require(!p.keyword.empty(), "an empty ESMTP keyword");
        require(std::none_of(p.keyword.begin(), p.keyword.end(), [](char c) { return c >= 'a' && c <= 'z'; }),
                "an ESMTP keyword not upper-cased");
        require(r.find(p.keyword) != nullptr, "find() misses a parsed keyword");
        if (p.value) (void)mail::decode_xtext(*p.value);
    }
    require(mail::decode_xtext(mail::encode_xtext(text)) == std::string{text}, "xtext does not round-trip");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text{reinterpret_cast<const char*>(data), size};
    check_address_list(text);
    check_path(text);
    check_esmtp(text);
    return 0;
}
