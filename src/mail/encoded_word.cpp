#include <cppmilter/mail/encoded_word.hpp>

#include <cppmilter/mail/charset.hpp>
#include <cppmilter/mail/header.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

namespace cppmilter::mail {
namespace {

// RFC 2047 §2: an encoded word is at most 75 characters, 12 of which "=?UTF-8?Q?" and "?=" take.
constexpr std::size_t max_word_length = 75;
constexpr std::string_view utf8_prefix_q = "=?UTF-8?Q?";
constexpr std::string_view utf8_prefix_b = "=?UTF-8?B?";
constexpr std::string_view word_suffix = "?=";
constexpr std::size_t max_encoded_text = max_word_length - utf8_prefix_q.size() - word_suffix.size();

constexpr std::string_view base64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view hex_digits = "0123456789ABCDEF";

bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }
bool is_linear_whitespace(char c) noexcept { return is_wsp(c) || c == '\r' || c == '\n'; }
bool is_ascii_printable(char c) noexcept { return c > ' ' && c < 0x7F; }

// RFC 2047 §2 token characters, '*' included for the RFC 2231 language.
bool is_token_char(char c) noexcept {
    return is_ascii_printable(c) && std::string_view{"()<>@,;:\"/[]?.="}.find(c) == std::string_view::npos;
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int base64_value(char c) noexcept {
    const auto at = base64_alphabet.find(c);
    return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

// Strict but for missing padding, which some mailers leave out.
std::optional<std::string> decode_base64(std::string_view text) {
    for (int padding = 0; padding < 2 && !text.empty() && text.back() == '='; ++padding) text.remove_suffix(1);
    if (text.size() % 4 == 1) return std::nullopt;
    std::string bytes;
    bytes.reserve(text.size() * 3 / 4);
    std::uint32_t bits = 0;
    int bit_count = 0;
    for (char c : text) {
        const int value = base64_value(c);
        if (value < 0) return std::nullopt;
        bits = (bits << 6) | static_cast<std::uint32_t>(value);
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            bytes += static_cast<char>((bits >> bit_count) & 0xFF);
        }
    }
    return bytes;
}

std::optional<std::string> decode_q(std::string_view text) {
    std::string bytes;
    bytes.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '_') {
            bytes += ' ';
        } else if (c == '=') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int high = hex_value(text[i + 1]), low = hex_value(text[i + 2]);
            if (high < 0 || low < 0) return std::nullopt;
            bytes += static_cast<char>(high * 16 + low);
            i += 2;
        } else {
            bytes += c;
        }
    }
    return bytes;
}

struct encoded_word {
    std::size_t begin, end;   // in the text: "=?" ... "?="
    std::string_view charset; // without the RFC 2231 language
    std::string bytes;        // the decoded octets, still in `charset`
};

// The encoded word that starts at `at` ("=?"), if it is one. Its scan ends at the first '?'
// or character that cannot be in it, so scanning all candidates of a text stays linear.
std::optional<encoded_word> parse_word(std::string_view text, std::size_t at) {
    std::size_t i = at + 2;
    const std::size_t charset_begin = i;
    while (i < text.size() && is_token_char(text[i])) ++i;
    if (i == charset_begin || i + 2 >= text.size() || text[i] != '?') return std::nullopt;
    std::string_view charset = text.substr(charset_begin, i - charset_begin);
    charset = charset.substr(0, charset.find('*')); // RFC 2231 §5: charset*language
    if (charset.empty()) return std::nullopt;
    const char encoding = text[i + 1];
    if (text[i + 2] != '?') return std::nullopt;
    i += 3;
    const std::size_t text_begin = i;
    while (i < text.size() && is_ascii_printable(text[i]) && text[i] != '?') ++i;
    if (i == text_begin || i + 1 >= text.size() || text[i] != '?' || text[i + 1] != '=') return std::nullopt;
    const std::string_view encoded = text.substr(text_begin, i - text_begin);
    std::optional<std::string> bytes;
    if (encoding == 'B' || encoding == 'b') bytes = decode_base64(encoded);
    else if (encoding == 'Q' || encoding == 'q') bytes = decode_q(encoded);
    if (!bytes) return std::nullopt;
    return encoded_word{at, i + 2, charset, std::move(*bytes)};
}

std::optional<encoded_word> next_word(std::string_view text, std::size_t from) {
    for (std::size_t at = text.find("=?", from); at != std::string_view::npos; at = text.find("=?", at + 1))
        if (auto word = parse_word(text, at)) return word;
    return std::nullopt;
}

bool is_all_linear_whitespace(std::string_view s) { return std::all_of(s.begin(), s.end(), is_linear_whitespace); }

// Adjacent encoded words of one charset, decoded as one.
struct word_run {
    std::string_view gap; // the whitespace before it, dropped if the run before decoded too
    std::string_view charset;
    std::size_t begin, end;
    std::string bytes;
};

class unstructured_decoder {
public:
    explicit unstructured_decoder(std::string_view text) : text_{text} {}

    std::string run() {
        std::size_t pos = 0;
        while (auto word = next_word(text_, pos)) {
            const std::string_view between = text_.substr(pos, word->begin - pos);
            if (run_ && is_all_linear_whitespace(between) && iequals(run_->charset, word->charset)) {
                run_->bytes += word->bytes;
                run_->end = word->end;
            } else if (run_ && is_all_linear_whitespace(between)) {
                flush();
                run_ = word_run{between, word->charset, word->begin, word->end, std::move(word->bytes)};
            } else {
                flush();
                out_ += between;
                previous_decoded_ = false;
                run_ = word_run{{}, word->charset, word->begin, word->end, std::move(word->bytes)};
            }
            pos = word->end;
        }
        flush();
        out_ += text_.substr(pos);
        return std::move(out_);
    }

private:
    void flush() {
        if (!run_) return;
        auto decoded = to_utf8(run_->charset, run_->bytes);
        if (!decoded || !previous_decoded_) out_ += run_->gap;
        if (decoded) out_ += *decoded;
        else out_ += text_.substr(run_->begin, run_->end - run_->begin);
        previous_decoded_ = decoded.has_value();
        run_.reset();
    }

    std::string_view text_;
    std::string out_;
    std::optional<word_run> run_;
    bool previous_decoded_ = false;
};

// ---- encoding ----

// The octets of one character: a UTF-8 sequence, or a single byte where the text is not UTF-8.
std::size_t character_length(std::string_view text, std::size_t at) {
    const auto lead = static_cast<unsigned char>(text[at]);
    const std::size_t length = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (at + length > text.size() || !is_valid_utf8(text.substr(at, length))) return 1;
    return length;
}

enum class q_alphabet { unstructured, phrase };

// RFC 2047 §5: characters a Q word may carry as they are.
bool is_q_literal(char c, q_alphabet alphabet) noexcept {
    if (alphabet == q_alphabet::phrase)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '!' || c == '*' ||
               c == '+' || c == '-' || c == '/';
    return is_ascii_printable(c) && c != '=' && c != '?' && c != '_';
}

std::size_t q_length(char c, q_alphabet alphabet) noexcept { return c == ' ' || is_q_literal(c, alphabet) ? 1 : 3; }

void append_q(std::string& out, char c, q_alphabet alphabet) {
    if (c == ' ') {
        out += '_';
    } else if (is_q_literal(c, alphabet)) {
        out += c;
    } else {
        const auto byte = static_cast<unsigned char>(c);
        out += '=';
        out += hex_digits[byte >> 4];
        out += hex_digits[byte & 0x0F];
    }
}

void append_base64(std::string& out, std::string_view bytes) {
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        std::uint32_t group = 0;
        const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        for (std::size_t k = 0; k < 3; ++k)
            group = (group << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0U);
        for (std::size_t k = 0; k < 4; ++k)
            out += k <= n ? base64_alphabet[(group >> (18 - 6 * k)) & 0x3F] : '=';
    }
}

// `text` as encoded words, Q or B whichever is shorter, whole characters in each.
void append_encoded_words(std::string& out, std::string_view text, q_alphabet alphabet) {
    std::size_t q_total = 0;
    for (char c : text) q_total += q_length(c, alphabet);
    const bool use_b = (text.size() + 2) / 3 * 4 < q_total;
    const std::size_t max_bytes_b = max_encoded_text / 4 * 3; // 45 octets: 60 base64 characters

    bool first = true;
    std::size_t at = 0;
    while (at < text.size()) {
        // As many whole characters as fit into one word.
        std::size_t end = at, encoded = 0;
        while (end < text.size()) {
            const std::size_t length = character_length(text, end);
            std::size_t cost = 0;
            if (use_b) cost = length;
            else
                for (std::size_t k = 0; k < length; ++k) cost += q_length(text[end + k], alphabet);
            if (encoded + cost > (use_b ? max_bytes_b : max_encoded_text) && end > at) break;
            encoded += cost;
            end += length;
        }
        if (!first) out += ' ';
        first = false;
        out += use_b ? utf8_prefix_b : utf8_prefix_q;
        const std::string_view piece = text.substr(at, end - at);
        if (use_b) append_base64(out, piece);
        else
            for (char c : piece) append_q(out, c, alphabet);
        out += word_suffix;
        at = end;
    }
}

bool is_atext(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view{"!#$%&'*+-/=?^_`{|}~"}.find(c) != std::string_view::npos;
}

// Splits `text` into words and the whitespace between them; runs of words that `needs_encoding`
// become encoded words together with the whitespace inside the run, the rest stays as it is.
template <class NeedsEncoding>
std::string encode_words(std::string_view text, q_alphabet alphabet, NeedsEncoding needs_encoding) {
    std::string out;
    out.reserve(text.size() * 2);
    std::size_t pos = 0;
    // Where the words being collected for encoding begin; npos: none (not an optional: g++ 12
    // at -O2 warns that its value may be used uninitialized).
    constexpr std::size_t no_run = std::string_view::npos;
    std::size_t run_begin = no_run;
    std::size_t run_end = 0;
    while (pos < text.size()) {
        const std::size_t word_begin = pos;
        while (pos < text.size() && is_wsp(text[pos])) ++pos;
        const std::size_t ws_end = pos;
        while (pos < text.size() && !is_wsp(text[pos])) ++pos;
        const std::string_view word = text.substr(ws_end, pos - ws_end);
        if (!word.empty() && needs_encoding(word)) {
            if (run_begin == no_run) {
                out += text.substr(word_begin, ws_end - word_begin);
                run_begin = ws_end;
            }
            run_end = pos;
            continue;
        }
        if (run_begin != no_run) {
            append_encoded_words(out, text.substr(run_begin, run_end - run_begin), alphabet);
            run_begin = no_run;
        }
        out += text.substr(word_begin, pos - word_begin);
    }
    if (run_begin != no_run) append_encoded_words(out, text.substr(run_begin, run_end - run_begin), alphabet);
    return out;
}

bool needs_encoding_in_text(std::string_view word) {
    return word.find("=?") != std::string_view::npos ||
           !std::all_of(word.begin(), word.end(), is_ascii_printable);
}

} // namespace

std::string decode_unstructured(std::string_view text) { return unstructured_decoder{text}.run(); }

std::string encode_unstructured(std::string_view utf8) {
    return encode_words(utf8, q_alphabet::unstructured, needs_encoding_in_text);
}

std::string encode_phrase(std::string_view utf8) {
    const bool printable = std::all_of(utf8.begin(), utf8.end(), [](char c) { return is_ascii_printable(c) || c == ' '; });
    if (printable && utf8.find("=?") == std::string_view::npos) {
        // Atoms separated by single spaces stay as they are; the rest is quoted.
        const bool atoms = !utf8.empty() && utf8.front() != ' ' && utf8.back() != ' ' &&
                           utf8.find("  ") == std::string_view::npos &&
                           std::all_of(utf8.begin(), utf8.end(), [](char c) { return is_atext(c) || c == ' '; });
        if (atoms) return std::string{utf8};
        std::string quoted = "\"";
        for (char c : utf8) {
            if (c == '"' || c == '\\') quoted += '\\';
            quoted += c;
        }
        quoted += '"';
        return quoted;
    }
    return encode_words(utf8, q_alphabet::phrase, [](std::string_view word) {
        return !std::all_of(word.begin(), word.end(), is_atext) || word.find("=?") != std::string_view::npos;
    });
}

} // namespace cppmilter::mail
