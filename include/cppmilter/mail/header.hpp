// Header fields as an MTA hands them to a milter (RFC 5322 §2.2; RFC 6532 UTF-8 values).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cppmilter::mail {

// `raw` without its folding (RFC 5322 §2.2.3): every CRLF, LF or lone CR that is followed
// by a space or a tab is removed, the whitespace stays. Everything else, 8-bit and UTF-8
// bytes and NUL included, is kept byte for byte; so is a line break not followed by WSP.
std::string unfold(std::string_view raw);

// `value` (unfolded) folded so that the lines of "name: value" are at most `width` columns
// where possible. Breaks go only before existing whitespace that follows a word, so
// unfold(fold(name, value)) == value; never inside an encoded word, inside a quoted string
// only when no other break fits, and a word longer than the line stays whole on its own.
// Columns count UTF-8 characters, not bytes. The line break defaults to a bare LF: that is
// what Postfix expects inside a header value it receives from a milter.
std::string fold(std::string_view name, std::string_view value, std::size_t width = 78,
                 std::string_view line_break = "\n");

// ASCII case-insensitive equality, for header field names.
bool iequals(std::string_view a, std::string_view b) noexcept;

// A header field as received: the name and the value as the MTA sent it (folded).
struct header_field_view {
    std::string_view name;
    std::string_view raw;

    // The value without folding (unfold()).
    std::string unfolded() const;
    // The value unfolded, its RFC 2047 encoded words decoded: UTF-8 text for display or
    // matching. Only for unstructured fields (Subject, Comments, ...) in full; for address
    // fields use the address parser, which decodes display names alone.
    std::string decoded() const;
};

} // namespace cppmilter::mail
