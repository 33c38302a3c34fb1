// Replies from the filter to the MTA (§4, §5): verdicts, modifications, negotiation.
#pragma once

#include <cppmilter/proto/constants.hpp>
#include <cppmilter/proto/error.hpp>

#include <array>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace cppmilter::proto {

/// Macro lists of the OPTNEG reply (§5.2), indexed by macro_stage: a space-separated list of
/// names per stage, or nullopt to keep the MTA's configured list.
using symbol_lists = std::array<std::optional<std::string_view>, macro_stage_count>;

/// `O` reply (§5): the filter's choice, optionally with macro lists.
struct optneg_reply {
    std::uint32_t version = protocol_version;
    action_set actions{};
    protocol_set protocol{};
    symbol_lists macros{};
    friend bool operator==(const optneg_reply&, const optneg_reply&) = default;
};

// Verdicts (§4.1). All have an empty payload except smtp_reply.
struct continue_ { friend bool operator==(continue_, continue_) = default; };
struct accept { friend bool operator==(accept, accept) = default; };
struct reject { friend bool operator==(reject, reject) = default; };
struct tempfail { friend bool operator==(tempfail, tempfail) = default; };
struct discard { friend bool operator==(discard, discard) = default; };
/// Only after BODY, and only when SKIP was negotiated (§6.6).
struct skip { friend bool operator==(skip, skip) = default; };
/// Postfix only: 421 and disconnect (§4.1). Prefer an smtp_reply starting with 421.
struct shutdown { friend bool operator==(shutdown, shutdown) = default; };
/// Keep-alive while the filter works (§4.4); portable only during end of message.
struct progress { friend bool operator==(progress, progress) = default; };

/// `y` (§4.6): the exact SMTP reply text as sent on the wire (multi-line joined by CRLF,
/// `%` doubled). Build it with format_smtp_reply(); encoding and decoding validate it.
struct smtp_reply {
    std::string_view text;
    friend bool operator==(const smtp_reply&, const smtp_reply&) = default;
};

// Modifications (§4.2), only in the reply to end of body.
struct add_header {
    std::string_view name;
    std::string_view value;
    friend bool operator==(const add_header&, const add_header&) = default;
};
/// Insert at `index` of the whole header list (0 = top).
struct insert_header {
    std::uint32_t index = 0;
    std::string_view name;
    std::string_view value;
    friend bool operator==(const insert_header&, const insert_header&) = default;
};
/// Change occurrence `index` (1-based) of header `name`; an empty value deletes it.
struct change_header {
    std::uint32_t index = 1;
    std::string_view name;
    std::string_view value;
    friend bool operator==(const change_header&, const change_header&) = default;
};
/// New envelope sender; `esmtp_args` is one space-separated string (may be empty).
struct change_from {
    std::string_view sender;
    std::string_view esmtp_args;
    friend bool operator==(const change_from&, const change_from&) = default;
};
struct add_rcpt {
    std::string_view rcpt;
    friend bool operator==(const add_rcpt&, const add_rcpt&) = default;
};
/// `esmtp_args` is one space-separated string (may be empty).
struct add_rcpt_with_args {
    std::string_view rcpt;
    std::string_view esmtp_args;
    friend bool operator==(const add_rcpt_with_args&, const add_rcpt_with_args&) = default;
};
struct del_rcpt {
    std::string_view rcpt;
    friend bool operator==(const del_rcpt&, const del_rcpt&) = default;
};
/// Replaces the whole body. The encoder splits it into packets of at most 65535 bytes;
/// the decoder yields one replace_body per packet (the MTA concatenates them).
struct replace_body {
    std::string_view chunk;
    friend bool operator==(const replace_body&, const replace_body&) = default;
};
/// Puts the message on hold; the reason must not be empty. Not a verdict (§4.7).
struct quarantine {
    std::string_view reason;
    friend bool operator==(const quarantine&, const quarantine&) = default;
};

using reply = std::variant<optneg_reply, continue_, accept, reject, tempfail, discard, skip,
                           shutdown, progress, smtp_reply, add_header, insert_header,
                           change_header, change_from, add_rcpt, add_rcpt_with_args, del_rcpt,
                           replace_body, quarantine>;

constexpr reply_kind kind_of(const optneg_reply&) noexcept { return reply_kind::optneg; }
constexpr reply_kind kind_of(continue_) noexcept { return reply_kind::continue_; }
constexpr reply_kind kind_of(accept) noexcept { return reply_kind::accept; }
constexpr reply_kind kind_of(reject) noexcept { return reply_kind::reject; }
constexpr reply_kind kind_of(tempfail) noexcept { return reply_kind::tempfail; }
constexpr reply_kind kind_of(discard) noexcept { return reply_kind::discard; }
constexpr reply_kind kind_of(skip) noexcept { return reply_kind::skip; }
constexpr reply_kind kind_of(shutdown) noexcept { return reply_kind::shutdown; }
constexpr reply_kind kind_of(progress) noexcept { return reply_kind::progress; }
constexpr reply_kind kind_of(const smtp_reply&) noexcept { return reply_kind::smtp_reply; }
constexpr reply_kind kind_of(const add_header&) noexcept { return reply_kind::add_header; }
constexpr reply_kind kind_of(const insert_header&) noexcept { return reply_kind::insert_header; }
constexpr reply_kind kind_of(const change_header&) noexcept { return reply_kind::change_header; }
constexpr reply_kind kind_of(const change_from&) noexcept { return reply_kind::change_from; }
constexpr reply_kind kind_of(const add_rcpt&) noexcept { return reply_kind::add_rcpt; }
constexpr reply_kind kind_of(const add_rcpt_with_args&) noexcept { return reply_kind::add_rcpt_with_args; }
constexpr reply_kind kind_of(const del_rcpt&) noexcept { return reply_kind::del_rcpt; }
constexpr reply_kind kind_of(const replace_body&) noexcept { return reply_kind::replace_body; }
constexpr reply_kind kind_of(const quarantine&) noexcept { return reply_kind::quarantine; }
inline reply_kind kind_of(const reply& r) noexcept {
    return std::visit([](const auto& x) { return kind_of(x); }, r);
}

/// A final verdict ends the answer to a command: everything but progress, modifications and
/// the OPTNEG reply.
bool is_verdict(reply_kind k) noexcept;
/// A modification is allowed only in the answer to end of body (§4.2).
bool is_modification(reply_kind k) noexcept;
/// The action bit a modification needs (§2.3), or an empty set for anything else.
action_set required_action(reply_kind k) noexcept;

/// Builds the wire text of a REPLYCODE (§4.6) from a code, an optional enhanced status
/// code and a text whose lines are separated by "\n" (or "\r\n"):
/// format_smtp_reply(550, "5.7.1", "first\nsecond") == "550-5.7.1 first\r\n550 5.7.1 second".
/// Doubles every `%`. Fails (errc::invalid_reply_text, field names the rule) when the code is
/// not 4xx/5xx, the enhanced code is malformed or of another class, a line exceeds 980 bytes,
/// there are more than 32 lines, or the text holds a NUL or a bare CR.
result<std::string> format_smtp_reply(unsigned code, std::string_view enhanced_code,
                                      std::string_view text);

/// Checks finished wire text against §4.6 (the rules format_smtp_reply() guarantees).
result<void> validate_smtp_reply(std::string_view wire_text);

/// Readable one-line form: `ADDHEADER name="X-Scanned" value="yes"`.
std::ostream& operator<<(std::ostream& os, const reply& r);

} // namespace cppmilter::proto
