// What an end-of-message hook sees, chosen by its parameter type.
#pragma once

#include <algorithm>
#include <cctype>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cppmilter {

/// One header of the message as the MTA sent it (folded lines joined by "\n").
struct header_field {
    std::string name;
    std::string value;
};

namespace detail {
/// ASCII case-insensitive equality (header names, domains): no locale, no call per character.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
    constexpr auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; };
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}
} // namespace detail

/// End of message, nothing buffered: a hook taking this costs no memory per message.
struct end_of_message {};

/// End of message with every header: taking this makes the framework ask the MTA for the
/// headers and keep them, even without a header hook.
struct message_headers {
    std::span<const header_field> headers;

    /// The value of the first header called `name` (compared case-insensitively).
    std::optional<std::string_view> header(std::string_view name) const noexcept {
        for (const auto& h : headers)
            if (detail::iequals(h.name, name)) return std::string_view{h.value};
        return std::nullopt;
    }
    /// The values of every header called `name`, in message order.
    std::vector<std::string_view> all(std::string_view name) const {
        std::vector<std::string_view> out;
        for (const auto& h : headers)
            if (detail::iequals(h.name, name)) out.emplace_back(h.value);
        return out;
    }
};

/// End of message with the headers and the whole body (CRLF line ends): taking this makes the
/// framework ask for and keep both.
struct whole_message : message_headers {
    std::string_view body;
};

} // namespace cppmilter
