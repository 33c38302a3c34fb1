#include <cppmilter/mail/address.hpp>
#include <cppmilter/mail/encoded_word.hpp>

#include <algorithm>
#include <cstring>
#include <ostream>

namespace cppmilter::mail {

std::string_view to_string(address_errc e) noexcept {
    switch (e) {
    case address_errc::unterminated_quoted_string: return "unterminated quoted string";
    case address_errc::unterminated_comment: return "unterminated comment";
    case address_errc::unterminated_angle_addr: return "'<' without '>'";
    case address_errc::unterminated_domain_literal: return "unterminated domain literal";
    case address_errc::unterminated_group: return "group without ';'";
    case address_errc::nested_group: return "group inside a group";
    case address_errc::missing_at: return "local part without '@domain'";
    case address_errc::invalid_local_part: return "invalid local part";
    case address_errc::invalid_domain: return "invalid domain";
    case address_errc::invalid_route: return "invalid source route";
    case address_errc::unexpected_character: return "unexpected character";
    case address_errc::empty_angle_addr: return "empty '<>' where a mailbox is needed";
    case address_errc::no_mailbox: return "no mailbox";
    case address_errc::several_mailboxes: return "more than one mailbox";
    case address_errc::trailing_text: return "text after the path";
    case address_errc::invalid_esmtp_keyword: return "invalid ESMTP parameter keyword";
    case address_errc::invalid_esmtp_value: return "invalid ESMTP parameter value";
    }
    return "unknown error";
}

std::ostream& operator<<(std::ostream& os, address_errc e) { return os << to_string(e); }

std::string parse_error::message() const {
    return std::string{to_string(code)} + " at offset " + std::to_string(position);
}

std::ostream& operator<<(std::ostream& os, const parse_error& e) { return os << e.message(); }

namespace {

bool is_wsp(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool is_alnum(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 5322 atext, widened by RFC 6532 to every byte of a UTF-8 sequence (not validated here).
bool is_atext(char c) noexcept {
    if (static_cast<unsigned char>(c) >= 0x80 || is_alnum(c)) return true;
    return c != '\0' && std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr;
}

bool is_dot_atom(std::string_view s) noexcept {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    char previous = '\0';
    for (const char c : s) {
        if (c == '.' ? previous == '.' : !is_atext(c)) return false;
        previous = c;
    }
    return true;
}

std::string quote_if_needed(std::string_view local) {
    if (is_dot_atom(local)) return std::string{local};
    std::string quoted = "\"";
    for (const char c : local) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
    }
    quoted += '"';
    return quoted;
}

std::string join_address(std::string_view local, std::string_view domain) {
    std::string address = quote_if_needed(local);
    if (!domain.empty()) {
        address += '@';
        address += domain;
    }
    return address;
}

std::string_view trim_wsp(std::string_view s) noexcept {
    while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
    return s;
}

// An atom, quoted string or '.' of a phrase or local part, before we know which of the two
// it belongs to: the next special ('<', ':', '@') decides.
struct word {
    enum kind_t { atom, quoted, dot } kind;
    std::size_t begin, end; // the token's raw extent
    bool space_before;      // CFWS between it and the previous word
    std::string value;      // quoted: unquoted and unescaped
};

// One pass over the text, no recursion: comments nest by counting, elements never nest deeper
// than group → mailbox. A failed element records the error and is skipped by recover().
class address_parser {
public:
    explicit address_parser(std::string_view text) : s_{text} {}

    address_list_result run() {
        while (true) {
            if (!skip_cfws_or_recover()) continue;
            if (at_end()) break;
            if (peek() == ',') { // a null member (obs-addr-list)
                ++pos_;
                continue;
            }
            const std::size_t start = pos_;
            if (!parse_address(false)) {
                recover(start, false);
                continue;
            }
            // The separator; anything else starts the next address (a comma left out).
            if (!skip_cfws_or_recover()) continue;
            if (!at_end() && peek() == ',') ++pos_;
        }
        return std::move(result_);
    }

private:
    bool at_end() const noexcept { return pos_ >= s_.size(); }
    char peek() const noexcept { return s_[pos_]; }

    bool fail(address_errc code, std::size_t position) {
        if (!result_.error) result_.error = parse_error{code, position};
        return false;
    }

    bool skip_comment() {
        const std::size_t open = pos_;
        std::size_t depth = 0;
        while (pos_ < s_.size()) {
            const char c = s_[pos_++];
            if (c == '\\') {
                if (pos_ < s_.size()) ++pos_;
            } else if (c == '(') {
                ++depth;
            } else if (c == ')') {
                if (--depth == 0) return true;
            }
        }
        return fail(address_errc::unterminated_comment, open);
    }

    bool skip_cfws() {
        while (!at_end()) {
            const char c = peek();
            if (is_wsp(c)) {
                ++pos_;
            } else if (c == '(') {
                if (!skip_comment()) return false;
            } else {
                break;
            }
        }
        return true;
    }

    // Between elements an unterminated comment ends the text: nothing to skip to.
    bool skip_cfws_or_recover() {
        const std::size_t start = pos_;
        if (skip_cfws()) return true;
        result_.unparsed.emplace_back(trim_wsp(s_.substr(start)));
        pos_ = s_.size();
        return false;
    }

    std::string read_atom() {
        const std::size_t begin = pos_;
        while (!at_end() && is_atext(peek())) ++pos_;
        return std::string{s_.substr(begin, pos_ - begin)};
    }

    // At '"'. Folding (CR, LF) is removed, the white space after it kept (RFC 5322 §3.2.2).
    bool read_quoted(std::string& value) {
        const std::size_t open = pos_++;
        while (!at_end()) {
            const char c = s_[pos_];
            if (c == '"') {
                ++pos_;
                return true;
            }
            if (c == '\0') return fail(address_errc::unexpected_character, pos_);
            if (c == '\\') {
                if (pos_ + 1 >= s_.size()) break;
                if (s_[pos_ + 1] == '\0') return fail(address_errc::unexpected_character, pos_ + 1);
                value += s_[pos_ + 1];
                pos_ += 2;
                continue;
            }
            if (c != '\r' && c != '\n') value += c;
            ++pos_;
        }
        return fail(address_errc::unterminated_quoted_string, open);
    }

    // Atoms, quoted strings and dots with the CFWS between them, up to anything else.
    bool read_words(std::vector<word>& words) {
        while (true) {
            const std::size_t before = pos_;
            if (!skip_cfws()) return false;
            if (at_end()) return true;
            const bool space = pos_ != before;
            const std::size_t begin = pos_;
            const char c = peek();
            if (is_atext(c)) {
                std::string atom = read_atom();
                words.push_back({word::atom, begin, pos_, space, std::move(atom)});
            } else if (c == '"') {
                std::string value;
                if (!read_quoted(value)) return false;
                words.push_back({word::quoted, begin, pos_, space, std::move(value)});
            } else if (c == '.') {
                ++pos_;
                words.push_back({word::dot, begin, pos_, space, "."});
            } else {
                pos_ = before; // leave the CFWS to whoever reads the special
                return true;
            }
        }
    }

    static std::string display_name(const std::vector<word>& words) {
        std::string text;
        for (const word& w : words) {
            if (w.space_before && !text.empty()) text += ' ';
            text += w.value;
        }
        if (text.find("=?") == std::string::npos) return text; // nothing to decode
        return decode_unstructured(text);
    }

    // word *("." word), dots tolerated anywhere; two words need a dot between them.
    bool local_part(const std::vector<word>& words, mailbox& m) {
        if (words.empty()) return fail(address_errc::invalid_local_part, pos_);
        const word* previous = nullptr;
        for (const word& w : words) {
            if (previous && previous->kind != word::dot && w.kind != word::dot)
                return fail(address_errc::invalid_local_part, w.begin);
            m.local_part += w.value;
            previous = &w;
        }
        m.raw_local_part = s_.substr(words.front().begin, words.back().end - words.front().begin);
        return true;
    }

    // After '@': dot-atom / obs-domain (CFWS around the dots) / domain-literal.
    bool domain(std::string& value, std::size_t& end) {
        if (!skip_cfws()) return false;
        if (at_end()) return fail(address_errc::invalid_domain, pos_);
        if (peek() == '[') return domain_literal(value, end);
        if (!is_atext(peek())) return fail(address_errc::invalid_domain, pos_);
        value = read_atom();
        end = pos_;
        while (true) {
            const std::size_t save = pos_;
            if (!skip_cfws()) { // the domain is whole: the comment after it is the error
                pos_ = save;
                return true;
            }
            if (at_end() || peek() != '.') {
                pos_ = save;
                return true;
            }
            ++pos_;
            if (!skip_cfws()) return false;
            if (at_end() || !is_atext(peek())) return fail(address_errc::invalid_domain, pos_);
            value += '.';
            value += read_atom();
            end = pos_;
        }
    }

    bool domain_literal(std::string& value, std::size_t& end) {
        const std::size_t open = pos_++;
        value.assign(1, '['); // not `= "["`: g++ 12 -O3 false -Wrestrict (GCC PR 105329)
        while (!at_end()) {
            const char c = s_[pos_];
            if (c == ']') {
                value += c;
                end = ++pos_;
                return true;
            }
            if (c == '[' || c == '\0') return fail(address_errc::unexpected_character, pos_);
            if (c == '\\') { // obs-dtext's quoted-pair
                if (pos_ + 1 >= s_.size()) break;
                if (s_[pos_ + 1] == '\0') return fail(address_errc::unexpected_character, pos_ + 1);
                value += s_[pos_ + 1];
                pos_ += 2;
                continue;
            }
            if (!is_wsp(c)) value += c; // FWS is not part of the literal's value
            ++pos_;
        }
        return fail(address_errc::unterminated_domain_literal, open);
    }

    // After '<' and CFWS, at '@' or ',': obs-route, up to and with its ':'.
    bool route(std::vector<std::string>& domains, std::size_t open) {
        while (true) {
            if (!skip_cfws()) return false;
            if (at_end()) return fail(address_errc::unterminated_angle_addr, open);
            const char c = peek();
            if (c == ',') {
                ++pos_;
            } else if (c == '@') {
                ++pos_;
                std::string value;
                std::size_t end = 0;
                if (!domain(value, end)) return false;
                domains.push_back(std::move(value));
            } else if (c == ':' && !domains.empty()) {
                ++pos_;
                return true;
            } else {
                return fail(address_errc::invalid_route, pos_);
            }
        }
    }

    // At '<'.
    bool angle_addr(mailbox& m) {
        const std::size_t open = pos_++;
        if (!skip_cfws()) return false;
        if (!at_end() && (peek() == '@' || peek() == ',') && !route(m.route, open)) return false;
        std::vector<word> words;
        if (!read_words(words)) return false;
        if (!skip_cfws()) return false;
        if (at_end()) return fail(address_errc::unterminated_angle_addr, open);
        if (words.empty() && peek() == '>' && m.route.empty())
            return fail(address_errc::empty_angle_addr, open);
        if (peek() != '@') {
            if (words.empty()) return fail(address_errc::invalid_local_part, pos_);
            return fail(peek() == '>' ? address_errc::missing_at : address_errc::unexpected_character,
                        pos_);
        }
        if (!local_part(words, m)) return false;
        ++pos_;
        std::size_t end = 0;
        if (!domain(m.domain, end)) return false;
        if (!skip_cfws()) return false;
        if (at_end()) return fail(address_errc::unterminated_angle_addr, open);
        if (peek() != '>') return fail(address_errc::unexpected_character, pos_);
        ++pos_;
        return true;
    }

    void add_mailbox(mailbox&& m, std::size_t begin, std::size_t end, std::optional<std::size_t> group) {
        m.position = begin;
        m.raw = s_.substr(begin, end - begin);
        m.group = group;
        result_.mailboxes.push_back(std::move(m));
    }

    // At the first token of an address (in a group: of a mailbox).
    bool parse_address(bool in_group) {
        const std::size_t start = pos_;
        std::vector<word> words;
        if (!read_words(words)) return false;
        if (!skip_cfws()) return false;
        const std::optional<std::size_t> group =
            in_group ? std::optional<std::size_t>{result_.groups.size() - 1} : std::nullopt;
        const char c = at_end() ? '\0' : peek();
        if (!at_end() && c == '<') {
            mailbox m;
            if (!angle_addr(m)) return false;
            m.display_name = display_name(words);
            add_mailbox(std::move(m), start, pos_, group);
            return true;
        }
        if (!at_end() && c == '@') {
            mailbox m;
            if (!local_part(words, m)) return false;
            ++pos_;
            std::size_t end = 0;
            if (!domain(m.domain, end)) return false;
            add_mailbox(std::move(m), start, end, group);
            return true;
        }
        if (!at_end() && c == ':' && !words.empty()) {
            if (in_group) return fail(address_errc::nested_group, pos_);
            return parse_group(display_name(words));
        }
        if (!words.empty() && (at_end() || c == ',' || c == ';'))
            return fail(address_errc::missing_at, words.back().end);
        return fail(address_errc::unexpected_character, pos_);
    }

    // At ':'. Members, null members and CFWS up to ';' (RFC 5322 group-list, obs-group-list).
    bool parse_group(std::string name) {
        const std::size_t colon = pos_++;
        const std::size_t first = result_.mailboxes.size();
        result_.groups.push_back({std::move(name), first, 0});
        bool closed = false;
        while (!closed) {
            if (!skip_cfws_or_recover()) break;
            if (at_end()) break;
            const char c = peek();
            if (c == ';') {
                ++pos_;
                closed = true;
            } else if (c == ',') {
                ++pos_;
            } else {
                const std::size_t start = pos_;
                if (!parse_address(true)) recover(start, true);
            }
        }
        result_.groups.back().size = result_.mailboxes.size() - first;
        if (!closed) fail(address_errc::unterminated_group, colon);
        return true; // the group itself stands, even unterminated
    }

    // Skips a failed element: up to the next ',' (in a group also ';') outside quotes,
    // comments, angle brackets and domain literals; keeps its text.
    void recover(std::size_t start, bool in_group) {
        std::size_t i = start;
        bool in_angle = false;
        while (i < s_.size()) {
            const char c = s_[i];
            if (c == '"' || c == '[') {
                const char close = c == '"' ? '"' : ']';
                for (++i; i < s_.size() && s_[i] != close; ++i)
                    if (s_[i] == '\\') ++i;
                if (i < s_.size()) ++i;
                continue;
            }
            if (c == '(') {
                std::size_t depth = 0;
                for (; i < s_.size(); ++i) {
                    if (s_[i] == '\\') ++i;
                    else if (s_[i] == '(') ++depth;
                    else if (s_[i] == ')' && --depth == 0) break;
                }
                if (i < s_.size()) ++i;
                continue;
            }
            if (c == '<') in_angle = true;
            else if (c == '>') in_angle = false;
            else if (!in_angle && (c == ',' || (in_group && c == ';'))) break;
            ++i;
        }
        i = std::min(i, s_.size());
        if (i == start) ++i; // always move on
        result_.unparsed.emplace_back(trim_wsp(s_.substr(start, i - start)));
        pos_ = i;
    }

    std::string_view s_;
    std::size_t pos_ = 0;
    address_list_result result_;
};

} // namespace

std::string mailbox::address() const { return join_address(local_part, domain); }

address_list_result parse_address_list(std::string_view text) { return address_parser{text}.run(); }

mailbox_result parse_mailbox(std::string_view text) {
    address_list_result list = parse_address_list(text);
    mailbox_result r;
    if (!list.mailboxes.empty()) r.value = std::move(list.mailboxes.front());
    if (list.error) r.error = list.error;
    else if (list.mailboxes.empty()) r.error = parse_error{address_errc::no_mailbox, 0};
    else if (list.mailboxes.size() > 1)
        r.error = parse_error{address_errc::several_mailboxes, list.mailboxes[1].position};
    return r;
}

// ---- RFC 5321 paths -------------------------------------------------------------------------

namespace {

bool is_domain_char(char c) noexcept {
    // Letters, digits, hyphens; '_' as real host names have it; UTF-8 for RFC 6531.
    return is_alnum(c) || c == '-' || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        const auto lower = [](char ch) { return ch >= 'A' && ch <= 'Z' ? char(ch - 'A' + 'a') : ch; };
        return lower(x) == lower(y);
    });
}

class path_parser {
public:
    path_parser(std::string_view text, std::size_t offset) : s_{text}, offset_{offset} {}

    path_result run() {
        envelope_path p;
        const bool bracketed = !s_.empty() && s_.front() == '<';
        if (bracketed) ++pos_;
        if (bracketed && pos_ < s_.size() && s_[pos_] == '>') {
            p.null = true;
            ++pos_;
            return finish(std::move(p));
        }
        if (pos_ < s_.size() && s_[pos_] == '@' && !route(p.route)) return error();
        if (!local(p.local)) return error();
        if (pos_ < s_.size() && s_[pos_] == '@') {
            ++pos_;
            if (!domain(p.domain)) return error();
        } else if (!p.route.empty() || !iequals(p.local, "postmaster")) {
            return fail(address_errc::missing_at, pos_);
        }
        if (bracketed) {
            if (pos_ >= s_.size()) return fail(address_errc::unterminated_angle_addr, 0);
            if (s_[pos_] != '>') return fail(address_errc::unexpected_character, pos_);
            ++pos_;
        }
        return finish(std::move(p));
    }

private:
    path_result finish(envelope_path&& p) {
        if (pos_ != s_.size()) return fail(address_errc::trailing_text, pos_);
        return {std::move(p), std::nullopt};
    }
    path_result fail(address_errc code, std::size_t at) {
        error_ = parse_error{code, offset_ + at};
        return error();
    }
    path_result error() const { return {std::nullopt, error_}; }
    bool failed(address_errc code, std::size_t at) {
        error_ = parse_error{code, offset_ + at};
        return false;
    }

    // "@r1,@r2:" (A-d-l ":")
    bool route(std::vector<std::string>& domains) {
        while (true) {
            if (pos_ >= s_.size() || s_[pos_] != '@') return failed(address_errc::invalid_route, pos_);
            ++pos_;
            std::string d;
            if (!domain(d)) return false;
            domains.push_back(std::move(d));
            if (pos_ < s_.size() && s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == ':') {
                ++pos_;
                return true;
            }
            return failed(address_errc::invalid_route, pos_);
        }
    }

    // Dot-string or Quoted-string (quoted-pairSMTP); UTF-8 allowed in both (RFC 6531).
    bool local(std::string& value) {
        if (pos_ < s_.size() && s_[pos_] == '"') {
            const std::size_t open = pos_++;
            while (pos_ < s_.size()) {
                const char c = s_[pos_];
                if (c == '"') {
                    ++pos_;
                    return true;
                }
                if (c == '\\') {
                    if (pos_ + 1 >= s_.size()) break;
                    const auto next = static_cast<unsigned char>(s_[pos_ + 1]);
                    if (next < 32 || next == 127) return failed(address_errc::unexpected_character, pos_ + 1);
                    value += s_[pos_ + 1];
                    pos_ += 2;
                    continue;
                }
                if (static_cast<unsigned char>(c) < 32 || c == 127)
                    return failed(address_errc::unexpected_character, pos_);
                value += c;
                ++pos_;
            }
            return failed(address_errc::unterminated_quoted_string, open);
        }
        const std::size_t begin = pos_;
        while (pos_ < s_.size() && (is_atext(s_[pos_]) || s_[pos_] == '.')) ++pos_;
        value = s_.substr(begin, pos_ - begin);
        if (value.empty())
            return failed(pos_ < s_.size() ? address_errc::invalid_local_part : address_errc::missing_at,
                          pos_);
        return true;
    }

    // Domain (sub-domains separated by single dots) or address-literal "[...]".
    bool domain(std::string& value) {
        const std::size_t begin = pos_;
        if (pos_ < s_.size() && s_[pos_] == '[') {
            for (++pos_; pos_ < s_.size() && s_[pos_] != ']'; ++pos_) {
                const auto c = static_cast<unsigned char>(s_[pos_]);
                if (c <= 32 || c == 127 || c == '[' || c == '\\')
                    return failed(address_errc::unexpected_character, pos_);
            }
            if (pos_ >= s_.size()) return failed(address_errc::unterminated_domain_literal, begin);
            ++pos_;
            value = s_.substr(begin, pos_ - begin);
            return true;
        }
        bool label_empty = true;
        for (; pos_ < s_.size(); ++pos_) {
            const char c = s_[pos_];
            if (c == '.') {
                if (label_empty) return failed(address_errc::invalid_domain, pos_);
                label_empty = true;
            } else if (is_domain_char(c)) {
                label_empty = false;
            } else {
                break;
            }
        }
        if (label_empty) return failed(address_errc::invalid_domain, pos_);
        value = s_.substr(begin, pos_ - begin);
        return true;
    }

    std::string_view s_;
    std::size_t offset_;
    std::size_t pos_ = 0;
    std::optional<parse_error> error_;
};

} // namespace

std::string envelope_path::address() const {
    if (null) return {};
    return join_address(local, domain);
}

path_result parse_path(std::string_view text) {
    std::size_t offset = 0;
    while (offset < text.size() && is_wsp(text[offset])) ++offset;
    const std::string_view trimmed = trim_wsp(text);
    return path_parser{trimmed, offset}.run();
}

// ---- ESMTP parameters ------------------------------------------------------------------------

const esmtp_parameter* esmtp_parameters_result::find(std::string_view keyword) const noexcept {
    for (const esmtp_parameter& p : parameters)
        if (iequals(p.keyword, keyword)) return &p;
    return nullptr;
}

esmtp_parameters_result parse_esmtp_parameters(std::span<const std::string_view> arguments) {
    esmtp_parameters_result r;
    const auto fail = [&r](address_errc code, std::size_t index) {
        if (!r.error) r.error = parse_error{code, index};
    };
    for (std::size_t i = 0; i < arguments.size(); ++i) {
        const std::string_view argument = arguments[i];
        const std::size_t equals = argument.find('=');
        const std::string_view keyword = argument.substr(0, equals);
        const bool keyword_ok = !keyword.empty() && is_alnum(keyword.front()) &&
                                std::all_of(keyword.begin(), keyword.end(),
                                            [](char c) { return is_alnum(c) || c == '-'; });
        if (!keyword_ok) {
            fail(address_errc::invalid_esmtp_keyword, i);
            continue;
        }
        esmtp_parameter p;
        p.keyword.reserve(keyword.size());
        for (const char c : keyword) p.keyword += c >= 'a' && c <= 'z' ? char(c - 'a' + 'A') : c;
        if (equals != std::string_view::npos) {
            // RFC 5321 esmtp-value, with UTF-8 (RFC 6531); a further '=' is tolerated.
            const std::string_view value = argument.substr(equals + 1);
            const bool value_ok = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
                const auto u = static_cast<unsigned char>(c);
                return u > 32 && u != 127;
            });
            if (!value_ok) {
                fail(address_errc::invalid_esmtp_value, i);
                continue;
            }
            p.value = std::string{value};
        }
        r.parameters.push_back(std::move(p));
    }
    return r;
}

std::optional<std::string> decode_xtext(std::string_view text) {
    const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '+') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int high = hex(text[i + 1]);
            const int low = hex(text[i + 2]);
            if (high < 0 || low < 0) return std::nullopt;
            out += static_cast<char>(high * 16 + low);
            i += 2;
        } else if (c < '!' || c > '~' || c == '=') {
            return std::nullopt;
        } else {
            out += c;
        }
    }
    return out;
}

std::string encode_xtext(std::string_view text) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < '!' || u > '~' || c == '+' || c == '=') {
            out += '+';
            out += digits[u >> 4];
            out += digits[u & 15];
        } else {
            out += c;
        }
    }
    return out;
}

} // namespace cppmilter::mail
