// The stages of a milter and what the protocol says about each.
#pragma once

#include <cppmilter/proto/commands.hpp>
#include <cppmilter/proto/constants.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace cppmilter {

/// Every point of an SMTP session a milter can hook, in protocol order.
enum class stage {
    connect,
    helo,
    mail_from,
    rcpt,
    data,
    header,
    end_of_headers,
    body,
    end_of_message,
    unknown,
    abort,
    close,
};

constexpr std::string_view to_string(stage s) noexcept {
    constexpr std::string_view names[] = {"connect", "helo",           "mail_from", "rcpt",
                                          "data",    "header",         "end_of_headers", "body",
                                          "end_of_message", "unknown", "abort",     "close"};
    return names[static_cast<int>(s)];
}

// The events hooks receive: the protocol core's commands, seen in place (valid during the hook).
using connect_info = proto::connect;     ///< hostname, family, port, address
using helo_info = proto::helo;           ///< name
using mail_from = proto::mail;           ///< address ("<a@b>", "<>"), esmtp_args
using rcpt = proto::rcpt;                ///< address, esmtp_args
using data_info = proto::data;
using header = proto::header;            ///< name, value (folded lines joined by "\n")
using end_of_headers_info = proto::end_of_headers;
using body_chunk = proto::body;          ///< chunk: raw bytes, CRLF line ends
using unknown_command = proto::unknown;  ///< line: the SMTP verb the MTA did not know
struct abort_info {};                    ///< the message transaction was abandoned
struct close_info {};                    ///< the connection ended (QUIT, QUIT_NC or EOF)

namespace detail {

/// What the protocol says about a stage: its command, its NO* / NR* bits, its macro list.
struct stage_traits {
    std::optional<proto::command_kind> command;
    proto::protocol_set no_bit;        ///< "don't send this command"
    proto::protocol_set no_reply_bit;  ///< "I won't answer this command"
    std::optional<proto::macro_stage> macro_list; ///< the OPTNEG macro list delivered before it
    int macro_order;                   ///< order in which macros become available
};

constexpr stage_traits traits_of(stage s) noexcept {
    using P = proto::protocol;
    using K = proto::command_kind;
    using M = proto::macro_stage;
    switch (s) {
    case stage::connect: return {K::connect, P::no_connect, P::no_reply_connect, M::connect, 0};
    case stage::helo: return {K::helo, P::no_helo, P::no_reply_helo, M::helo, 1};
    case stage::mail_from: return {K::mail, P::no_mail, P::no_reply_mail, M::mail, 2};
    case stage::rcpt: return {K::rcpt, P::no_rcpt, P::no_reply_rcpt, M::rcpt, 3};
    case stage::data: return {K::data, P::no_data, P::no_reply_data, M::data, 4};
    // Postfix sends the end-of-headers list before every header, the end-of-message list
    // before every body chunk (§3.2).
    case stage::header: return {K::header, P::no_headers, P::no_reply_header, M::end_of_headers, 5};
    case stage::end_of_headers: return {K::end_of_headers, P::no_end_of_headers, P::no_reply_end_of_headers, M::end_of_headers, 5};
    case stage::body: return {K::body, P::no_body, P::no_reply_body, M::end_of_message, 6};
    case stage::end_of_message: return {K::end_of_body, {}, {}, M::end_of_message, 6};
    case stage::unknown: return {K::unknown, P::no_unknown, P::no_reply_unknown, std::nullopt, 0};
    case stage::abort: return {std::nullopt, {}, {}, std::nullopt, 7};
    case stage::close: return {std::nullopt, {}, {}, std::nullopt, 7};
    }
    return {};
}

} // namespace detail
} // namespace cppmilter
