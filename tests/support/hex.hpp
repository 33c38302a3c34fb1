// Hex helpers for byte-exact protocol tests.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace cppmilter::test {

/// "00 00 00 01 63" or "0000000163" → bytes; whitespace is ignored.
inline std::string from_hex(std::string_view hex) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        throw std::invalid_argument(std::string{"not a hex digit: "} + c);
    };
    std::string out;
    int high = -1;
    for (char c : hex) {
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') continue;
        if (high < 0) {
            high = nibble(c);
        } else {
            out.push_back(static_cast<char>(high << 4 | nibble(c)));
            high = -1;
        }
    }
    if (high >= 0) throw std::invalid_argument("odd number of hex digits");
    return out;
}

/// A string literal with its embedded NULs: raw("a\0b\0") has size 4.
template <std::size_t N>
constexpr std::string_view raw(const char (&s)[N]) noexcept {
    return {s, N - 1};
}

inline std::string to_hex(std::string_view bytes) {
    constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (char c : bytes) {
        out += digits[(static_cast<unsigned char>(c) >> 4) & 0xf];
        out += digits[static_cast<unsigned char>(c) & 0xf];
    }
    return out;
}

} // namespace cppmilter::test
