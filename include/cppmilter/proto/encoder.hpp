// Sans-I/O encoding: typed commands and replies appended as wire bytes to a caller's buffer.
#pragma once

#include <cppmilter/proto/commands.hpp>
#include <cppmilter/proto/error.hpp>
#include <cppmilter/proto/replies.hpp>

#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace cppmilter::proto {

namespace detail {
template <class T, class Variant>
struct is_alternative_of;
template <class T, class... Ts>
struct is_alternative_of<T, std::variant<Ts...>> : std::bool_constant<(std::is_same_v<T, Ts> || ...)> {};
} // namespace detail

template <class T>
concept command_type = detail::is_alternative_of<T, command>::value;
template <class T>
concept reply_type = detail::is_alternative_of<T, reply>::value;

/// Appends the packet(s) of one filter reply to `out`. A replace_body longer than 65535 bytes
/// becomes several packets. Fails, appending nothing, when a field cannot be put on the wire:
/// a NUL inside a string, an empty QUARANTINE reason or header name, REPLYCODE text that
/// breaks §4.6, an OPTNEG version below 2.
template <reply_type T>
result<void> encode(std::string& out, const T& r);
result<void> encode(std::string& out, const reply& r);

/// Appends the packet(s) of one MTA command to `out` (the MTA side: clients, tests,
/// benchmarks). A body longer than 65535 bytes becomes several packets.
template <command_type T>
result<void> encode(std::string& out, const T& c);
result<void> encode(std::string& out, const command& c);

/// MAIL / RCPT from separate strings: address first, then each ESMTP parameter.
result<void> encode_mail(std::string& out, std::string_view address,
                         std::span<const std::string_view> esmtp_args = {});
result<void> encode_rcpt(std::string& out, std::string_view address,
                         std::span<const std::string_view> esmtp_args = {});
/// MACRO for the command letter `stage` from separate name/value pairs.
result<void> encode_macro(std::string& out, char stage,
                          std::span<const std::pair<std::string_view, std::string_view>> pairs);

} // namespace cppmilter::proto
