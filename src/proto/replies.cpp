#include <cppmilter/proto/replies.hpp>

namespace cppmilter::proto {

bool is_verdict(reply_kind k) noexcept {
    switch (k) {
    case reply_kind::continue_:
    case reply_kind::accept:
    case reply_kind::reject:
    case reply_kind::tempfail:
    case reply_kind::discard:
    case reply_kind::skip:
    case reply_kind::shutdown:
    case reply_kind::smtp_reply: return true;
    default: return false;
    }
}

action_set required_action(reply_kind k) noexcept {
    switch (k) {
    case reply_kind::add_header:
    case reply_kind::insert_header: return action::add_headers;
    case reply_kind::change_header: return action::change_headers;
    case reply_kind::replace_body: return action::change_body;
    case reply_kind::add_rcpt: return action::add_rcpt;
    case reply_kind::add_rcpt_with_args: return action::add_rcpt_with_args;
    case reply_kind::del_rcpt: return action::del_rcpt;
    case reply_kind::change_from: return action::change_from;
    case reply_kind::quarantine: return action::quarantine;
    default: return {};
    }
}

bool is_modification(reply_kind k) noexcept { return !required_action(k).empty(); }

namespace {

constexpr std::size_t max_line_text = 980; // libmilter's limit per line (§4.6)
constexpr std::size_t max_lines = 32;

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

/// Length of an enhanced status code "X.Y.Z" at the start of `s` (X one digit, Y and Z one
/// to three digits, RFC 3463), or 0 if there is none.
std::size_t enhanced_code_length(std::string_view s) noexcept {
    std::size_t i = 0;
    if (i >= s.size() || !is_digit(s[i])) return 0;
    ++i;
    for (int part = 0; part < 2; ++part) {
        if (i >= s.size() || s[i] != '.') return 0;
        ++i;
        std::size_t digits = 0;
        while (i < s.size() && is_digit(s[i]) && digits < 3) ++i, ++digits;
        if (digits == 0) return 0;
    }
    return i;
}

error bad_text(std::string_view rule) { return error{errc::invalid_reply_text, 'y', rule}; }

} // namespace

result<std::string> format_smtp_reply(unsigned code, std::string_view enhanced, std::string_view text) {
    if (code < 400 || code > 599) return bad_text("code must be 4xx or 5xx");
    const char klass = static_cast<char>('0' + code / 100);
    if (!enhanced.empty()) {
        if (enhanced_code_length(enhanced) != enhanced.size()) return bad_text("enhanced code must be X.Y.Z");
        if (enhanced[0] != klass) return bad_text("enhanced code class must match the reply code");
    }
    if (text.find('\0') != std::string_view::npos) return bad_text("text holds a NUL");

    const std::string digits = std::to_string(code);
    std::string out;
    std::size_t lines = 0;
    while (true) {
        auto nl = text.find('\n');
        auto line = text.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1); // accept "\r\n" too
        if (line.find('\r') != std::string_view::npos) return bad_text("text holds a bare CR");
        if (line.size() > max_line_text) return bad_text("a line is longer than 980 bytes");
        if (++lines > max_lines) return bad_text("more than 32 lines");
        // Without an enhanced code of our own, text starting with one is read as the line's
        // enhanced code (§4.6: Postfix rejects "550 4.1.1 ..."), so its class must match too.
        if (enhanced.empty())
            if (const auto n = enhanced_code_length(line); n > 0 && (n == line.size() || line[n] == ' ') && line[0] != klass)
                return bad_text("enhanced code class must match the reply code");
        const bool last = nl == std::string_view::npos;
        out += digits;
        out += last ? ' ' : '-';
        if (!enhanced.empty()) {
            out += enhanced;
            out += ' ';
        }
        for (char c : line) {
            out += c;
            if (c == '%') out += '%'; // Sendmail uses the text as a printf format (§4.6)
        }
        if (last) break;
        out += "\r\n";
        text.remove_prefix(nl + 1);
    }
    return out;
}

result<void> validate_smtp_reply(std::string_view text) {
    if (text.find('\0') != std::string_view::npos) return bad_text("text holds a NUL");
    std::string_view first_code;
    std::size_t lines = 0;
    while (true) {
        const auto crlf = text.find("\r\n");
        const bool last = crlf == std::string_view::npos;
        auto line = text.substr(0, crlf);
        // Two memchr scans: find_first_of with a set calls memchr once per character.
        if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos)
            return bad_text("lines must be joined by CRLF");
        if (++lines > max_lines) return bad_text("more than 32 lines");
        if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
            return bad_text("each line must start with a 3-digit code");
        if (line[0] != '4' && line[0] != '5') return bad_text("code must be 4xx or 5xx");
        if (first_code.empty()) first_code = line.substr(0, 3);
        else if (line.substr(0, 3) != first_code) return bad_text("all lines must carry the same code");
        if (line.size() > 3) {
            const char sep = line[3];
            if (last ? sep != ' ' : sep != '-')
                return bad_text(last ? "the last line must be 'DDD text'" : "continuation lines must be 'DDD-text'");
            const auto rest = line.substr(4);
            if (const auto n = enhanced_code_length(rest); n > 0 && (n == rest.size() || rest[n] == ' '))
                if (rest[0] != line[0]) return bad_text("enhanced code class must match the reply code");
        } else if (!last) {
            return bad_text("continuation lines must be 'DDD-text'");
        }
        for (std::size_t i = 0; i < line.size(); ++i) {
            if (line[i] != '%') continue;
            if (i + 1 >= line.size() || line[i + 1] != '%') return bad_text("a lone '%' (write '%%')");
            ++i;
        }
        if (last) return {};
        text.remove_prefix(crlf + 2);
    }
}

} // namespace cppmilter::proto
