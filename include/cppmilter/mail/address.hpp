// Addresses as they appear in header fields (RFC 5322 §3.4, with the obsolete forms of §4.4
// and UTF-8 of RFC 6532) and in the SMTP envelope (RFC 5321 paths and ESMTP parameters, UTF-8
// of RFC 6531). Sans-I/O: plain text in, values out; never throws on bad input.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cppmilter::mail {

/// What was wrong with an address, a path or an ESMTP parameter.
enum class address_errc {
    unterminated_quoted_string = 1, ///< '"' without its closing '"'
    unterminated_comment,           ///< '(' without its closing ')'
    unterminated_angle_addr,        ///< '<' without its closing '>'
    unterminated_domain_literal,    ///< '[' without its closing ']'
    unterminated_group,             ///< "name:" without its closing ';'
    nested_group,                   ///< a group inside a group
    missing_at,                     ///< a local part not followed by '@' and a domain
    invalid_local_part,             ///< words with no '.' between them, or no local part at all
    invalid_domain,                 ///< nothing, or not an atom / domain literal, after '@'
    invalid_route,                  ///< a source route ("@a,@b:") without its ':' or a domain
    unexpected_character,           ///< a character that no rule allows here (NUL, ')', '>', ...)
    empty_angle_addr,               ///< "<>" where a mailbox is needed (only a path may be null)
    no_mailbox,                     ///< parse_mailbox(): the field holds no mailbox
    several_mailboxes,              ///< parse_mailbox(): the field holds more than one
    trailing_text,                  ///< a path followed by something other than white space
    invalid_esmtp_keyword,          ///< not (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
    invalid_esmtp_value,            ///< empty after '=', or a space or control character in it
};

std::string_view to_string(address_errc e) noexcept;
std::ostream& operator<<(std::ostream& os, address_errc e);

/// The first error in a piece of text: what and where.
struct parse_error {
    address_errc code{};
    /// Byte offset into the parsed text; for parse_esmtp_parameters() the index of the argument.
    std::size_t position = 0;

    /// One readable line, e.g. "unterminated quoted string at offset 12".
    std::string message() const;
    friend bool operator==(const parse_error&, const parse_error&) = default;
};
std::ostream& operator<<(std::ostream& os, const parse_error& e);

/// One mailbox of a header field: `Name <local@domain>` or `local@domain`.
struct mailbox {
    std::string display_name;   ///< UTF-8, encoded words decoded, quotes and comments gone; may be empty
    std::string local_part;     ///< the semantic value: quotes and quoted-pairs resolved, CFWS gone
    std::string raw_local_part; ///< as written, e.g. `"john doe"` or `john . doe` (comments included)
    std::string domain;         ///< as written minus CFWS, case kept; a domain literal keeps its []
    std::vector<std::string> route; ///< obsolete source route (`<@a,@b:x@y>` gives a, b): kept, but ignored
    std::optional<std::size_t> group; ///< index into address_list_result::groups, if in a group
    std::string raw;            ///< the mailbox's text, from its first to its last token
    std::size_t position = 0;   ///< byte offset of `raw` in the parsed text

    /// `local@domain`, the local part quoted again where it is not a dot-atom.
    std::string address() const;
    friend bool operator==(const mailbox&, const mailbox&) = default;
};

/// A named group (`Friends: a@b, c@d;`), possibly empty (`undisclosed-recipients:;`).
struct group {
    std::string display_name; ///< decoded like a mailbox's
    std::size_t first = 0;    ///< index of its first member in address_list_result::mailboxes
    std::size_t size = 0;     ///< number of members; they follow each other in `mailboxes`
    friend bool operator==(const group&, const group&) = default;
};

/// A parsed address list. Best effort: an element that cannot be parsed is skipped up to the
/// next ',' (its text kept in `unparsed`), the rest is parsed, and the first error is reported.
struct address_list_result {
    std::vector<mailbox> mailboxes; ///< in order, group members included
    std::vector<group> groups;
    std::vector<std::string> unparsed; ///< the text of each element skipped after an error
    std::optional<parse_error> error;  ///< the first error, if any

    bool ok() const noexcept { return !error; }
};

/// Parses an address-list (To, Cc, Bcc, Reply-To, From with several authors...). The text is
/// the field's value, folded or not (CRLF, bare LF and bare CR count as white space).
/// Tolerated as in RFC 5322 §4.4 and real mail: null members (`a@b,,c@d`), commas left out
/// between two addresses where nothing else is meant (`<a@b> <c@d>`, `a@b c@d`), and dots
/// anywhere in an unquoted local part (`john..doe@`, `john.@`, as some mobile carriers send).
/// Linear in the size of the text, with no recursion.
address_list_result parse_address_list(std::string_view text);

struct mailbox_result {
    std::optional<mail::mailbox> value; ///< the mailbox; with an error, the first one found, if any
    std::optional<parse_error> error;

    bool ok() const noexcept { return value && !error; }
};

/// Parses a field that must hold exactly one mailbox (From with one author, Sender): an error
/// when it holds none or several (`several_mailboxes`), groups counting by their members.
mailbox_result parse_mailbox(std::string_view text);

/// A reverse-path or forward-path of MAIL FROM / RCPT TO (RFC 5321 §4.1.2).
struct envelope_path {
    bool null = false;        ///< `<>`: the null reverse-path of bounces
    std::string local;        ///< quotes and quoted-pairs resolved; UTF-8 kept (RFC 6531)
    std::string domain;       ///< as sent (case kept), an address literal with its []; empty for <postmaster>
    std::vector<std::string> route; ///< source route `<@r1,@r2:a@b>` gives r1, r2: kept, but ignored (§4.1.1.3)

    /// `local@domain` (`local` quoted again if needed), `local` alone without domain, "" if null.
    std::string address() const;
    friend bool operator==(const envelope_path&, const envelope_path&) = default;
};

struct path_result {
    std::optional<envelope_path> value;
    std::optional<parse_error> error;

    bool ok() const noexcept { return value && !error; }
};

/// Parses the path the MTA hands to a milter for MAIL or RCPT: `<a@b>`, `<>`, `<@r1,@r2:a@b>`,
/// `<"a b"@c>`, a bare `a@b` (Postfix with some settings), and `<postmaster>` (any case) without
/// a domain. White space around the path is ignored; anything else after it is an error.
path_result parse_path(std::string_view text);

/// One ESMTP parameter of MAIL or RCPT: `SIZE=1000`, `SMTPUTF8`.
struct esmtp_parameter {
    std::string keyword;              ///< upper-cased
    std::optional<std::string> value; ///< as sent (xtext not decoded: see decode_xtext())
    friend bool operator==(const esmtp_parameter&, const esmtp_parameter&) = default;
};

struct esmtp_parameters_result {
    std::vector<esmtp_parameter> parameters; ///< the valid ones, in order
    std::optional<parse_error> error;        ///< the first invalid one; position = its index

    bool ok() const noexcept { return !error; }
    /// The parameter with this keyword (any case), or null.
    const esmtp_parameter* find(std::string_view keyword) const noexcept;
};

/// Parses the arguments after the path (a milter's argv[1...] for MAIL and RCPT).
esmtp_parameters_result parse_esmtp_parameters(std::span<const std::string_view> arguments);

/// Decodes xtext (RFC 3461 §4: `+2B` is '+'), as in ORCPT, ENVID and AUTH values; nothing
/// if a '+' is not followed by two hex digits or a character is outside '!'..'~'.
std::optional<std::string> decode_xtext(std::string_view text);
/// Encodes as xtext: '+', '=' and every byte outside '!'..'~' become `+XX`.
std::string encode_xtext(std::string_view text);

} // namespace cppmilter::mail
