// Commands from the MTA to the filter (§3), as views into the decoder's buffer.
#pragma once

#include <cppmilter/proto/constants.hpp>
#include <cppmilter/proto/strings.hpp>

#include <cstdint>
#include <iosfwd>
#include <string_view>
#include <variant>

namespace cppmilter::proto {

/// Every string_view below points into the buffer the command was decoded from: it is valid
/// until that buffer changes (for a decoder: until its next feed()/prepare()).

/// `O` (§3.1): the MTA's offer.
struct optneg {
    std::uint32_t version = protocol_version;
    action_set actions{};
    protocol_set protocol{};
    friend bool operator==(const optneg&, const optneg&) = default;
};

/// `D` (§3.2): macros for the command with letter `stage` (any letter is accepted).
struct macro {
    char stage = 0;
    macro_pairs pairs;
    friend bool operator==(const macro&, const macro&) = default;
};

/// `C` (§3.3). `port` and `address` are absent (0 / empty) for family `U`.
struct connect {
    std::string_view hostname;
    address_family family = address_family::unknown;
    std::uint16_t port = 0;
    std::string_view address;
    friend bool operator==(const connect&, const connect&) = default;
};

/// `H` (§3.4).
struct helo {
    std::string_view name;
    friend bool operator==(const helo&, const helo&) = default;
};

/// `M` (§3.5): the address as written by the client (`<a@b>`, `<>`), then ESMTP parameters.
struct mail {
    std::string_view address;
    string_list esmtp_args;
    friend bool operator==(const mail&, const mail&) = default;
};

/// `R` (§3.5), one per recipient.
struct rcpt {
    std::string_view address;
    string_list esmtp_args;
    friend bool operator==(const rcpt&, const rcpt&) = default;
};

/// `L` (§3.6). Folded values keep their bare-LF line breaks.
struct header {
    std::string_view name;
    std::string_view value;
    friend bool operator==(const header&, const header&) = default;
};

/// `N` (§3.7).
struct end_of_headers {
    friend bool operator==(const end_of_headers&, const end_of_headers&) = default;
};

/// `B` (§3.7): raw body bytes, at most 65535 per chunk from real MTAs.
struct body {
    std::string_view chunk;
    friend bool operator==(const body&, const body&) = default;
};

/// `E` (§3.7). MTAs send it empty; a non-empty `chunk` is a last body chunk (as libmilter does).
struct end_of_body {
    std::string_view chunk;
    friend bool operator==(const end_of_body&, const end_of_body&) = default;
};

/// `T` (§3.8).
struct data {
    friend bool operator==(const data&, const data&) = default;
};

/// `U` (§3.9): the unrecognised SMTP command (Postfix 3.7: the verb only).
struct unknown {
    std::string_view line;
    friend bool operator==(const unknown&, const unknown&) = default;
};

/// `A` (§3.10): forget the message transaction; never answered.
struct abort {
    friend bool operator==(const abort&, const abort&) = default;
};

/// `Q` (§3.11): the session is over; never answered.
struct quit {
    friend bool operator==(const quit&, const quit&) = default;
};

/// `K` (§3.12): the session is over, a new one follows on this socket with the same options.
struct quit_new_connection {
    friend bool operator==(const quit_new_connection&, const quit_new_connection&) = default;
};

using command = std::variant<optneg, macro, connect, helo, mail, rcpt, header, end_of_headers,
                             body, end_of_body, data, unknown, abort, quit, quit_new_connection>;

/// The wire letter of each command type.
constexpr command_kind kind_of(const optneg&) noexcept { return command_kind::optneg; }
constexpr command_kind kind_of(const macro&) noexcept { return command_kind::macro; }
constexpr command_kind kind_of(const connect&) noexcept { return command_kind::connect; }
constexpr command_kind kind_of(const helo&) noexcept { return command_kind::helo; }
constexpr command_kind kind_of(const mail&) noexcept { return command_kind::mail; }
constexpr command_kind kind_of(const rcpt&) noexcept { return command_kind::rcpt; }
constexpr command_kind kind_of(const header&) noexcept { return command_kind::header; }
constexpr command_kind kind_of(const end_of_headers&) noexcept { return command_kind::end_of_headers; }
constexpr command_kind kind_of(const body&) noexcept { return command_kind::body; }
constexpr command_kind kind_of(const end_of_body&) noexcept { return command_kind::end_of_body; }
constexpr command_kind kind_of(const data&) noexcept { return command_kind::data; }
constexpr command_kind kind_of(const unknown&) noexcept { return command_kind::unknown; }
constexpr command_kind kind_of(const abort&) noexcept { return command_kind::abort; }
constexpr command_kind kind_of(const quit&) noexcept { return command_kind::quit; }
constexpr command_kind kind_of(const quit_new_connection&) noexcept {
    return command_kind::quit_new_connection;
}
inline command_kind kind_of(const command& c) noexcept {
    return std::visit([](const auto& x) { return kind_of(x); }, c);
}

/// Readable one-line form for logs and test failures:
/// `CONNECT hostname="mx.example" family=4 port=25 address="192.0.2.1"`.
std::ostream& operator<<(std::ostream& os, const command& c);

} // namespace cppmilter::proto
