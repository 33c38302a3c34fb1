#include <cppmilter/mail/header.hpp>

#include <cppmilter/mail/encoded_word.hpp>

#include <algorithm>
#include <optional>
#include <vector>

namespace cppmilter::mail {
namespace {

bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }
bool is_line_break(char c) noexcept { return c == '\r' || c == '\n'; }
bool is_utf8_continuation(char c) noexcept { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// A place where fold() may break: before the whitespace at `offset`.
struct break_point {
    std::size_t offset;
    std::size_t column; // columns of value[0, offset)
    bool in_quotes;
};

// Every whitespace run that follows a word and precedes another: breaking before it leaves
// no line empty or blank. Inside a "quoted string" (backslash escapes honoured) they are
// marked, to be used only when nothing else fits.
std::vector<break_point> break_points(std::string_view value) {
    std::vector<break_point> points;
    bool in_quotes = false;
    bool escaped = false;
    std::size_t column = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (is_wsp(c) && i > 0 && !is_wsp(value[i - 1]) && !is_line_break(value[i - 1])) {
            const auto next_word = std::find_if_not(value.begin() + static_cast<std::ptrdiff_t>(i), value.end(), is_wsp);
            if (next_word != value.end()) points.push_back({i, column, in_quotes});
        }
        if (escaped) escaped = false;
        else if (in_quotes && c == '\\') escaped = true;
        else if (c == '"') in_quotes = !in_quotes;
        if (!is_utf8_continuation(c)) ++column;
    }
    return points;
}

} // namespace

std::string unfold(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const char c = raw[i];
        if (c == '\r' && i + 2 < raw.size() && raw[i + 1] == '\n' && is_wsp(raw[i + 2])) {
            ++i; // CRLF before WSP
            continue;
        }
        if (is_line_break(c) && i + 1 < raw.size() && is_wsp(raw[i + 1])) continue; // LF or lone CR before WSP
        out += c;
    }
    return out;
}

std::string fold(std::string_view name, std::string_view value, std::size_t width, std::string_view line_break) {
    const std::vector<break_point> points = break_points(value);
    const auto total_columns = static_cast<std::size_t>(std::count_if(value.begin(), value.end(), [](char c) { return !is_utf8_continuation(c); }));

    std::string out;
    out.reserve(value.size() + value.size() / 32 * (line_break.size() + 1));
    std::size_t line_start = 0;        // offset in value of the current line
    std::size_t line_start_column = 0; // column of value[line_start] counted from value[0]
    std::size_t indent = name.size() + 2; // "name: " on the first line
    std::size_t next = 0;              // first break point after line_start
    for (;;) {
        const auto width_at = [&](std::size_t column) { return indent + column - line_start_column; };
        if (width_at(total_columns) <= width) break; // the rest fits
        std::optional<std::size_t> best, best_quoted;
        std::size_t i = next;
        for (; i < points.size() && width_at(points[i].column) <= width; ++i)
            (points[i].in_quotes ? best_quoted : best) = i;
        if (!best) best = best_quoted;
        if (!best && i < points.size()) best = i; // an overlong word: break right after it
        if (!best) break;
        const break_point& at = points[*best];
        out.append(value.substr(line_start, at.offset - line_start));
        out.append(line_break);
        line_start = at.offset;
        line_start_column = at.column;
        indent = 0; // a continuation line starts with the whitespace it broke before
        next = *best + 1;
    }
    out.append(value.substr(line_start));
    return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

std::string header_field_view::unfolded() const { return unfold(raw); }

std::string header_field_view::decoded() const { return decode_unstructured(unfold(raw)); }

} // namespace cppmilter::mail
