// Readable one-line forms of commands and replies, for logs, demos and test failures.
#include <cppmilter/proto/commands.hpp>
#include <cppmilter/proto/replies.hpp>

#include <ostream>

namespace cppmilter::proto {
namespace {

constexpr std::size_t max_shown = 64; // longer byte strings are cut, with their size shown

struct quoted {
    std::string_view s;
    bool cut = false;
};

std::ostream& operator<<(std::ostream& os, quoted q) {
    constexpr char hex[] = "0123456789abcdef";
    auto s = q.cut && q.s.size() > max_shown ? q.s.substr(0, max_shown) : q.s;
    os << '"';
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"': os << "\\\""; break;
        case '\\': os << "\\\\"; break;
        case '\n': os << "\\n"; break;
        case '\r': os << "\\r"; break;
        case '\t': os << "\\t"; break;
        default:
            if (c >= 0x20 && c < 0x7f) os << ch;
            else os << "\\x" << hex[c >> 4] << hex[c & 0xf];
        }
    }
    os << '"';
    if (s.size() != q.s.size()) os << "...";
    return os;
}

quoted bytes(std::string_view s) { return {s, true}; }

void print_list(std::ostream& os, std::string_view key, const string_list& list) {
    for (auto s : list) os << ' ' << key << '=' << quoted{s};
}

struct command_printer {
    std::ostream& os;
    void operator()(const optneg& c) const {
        os << "OPTNEG version=" << c.version << " actions=" << c.actions << " protocol=" << c.protocol;
    }
    void operator()(const macro& c) const {
        os << "MACRO stage=" << quoted{std::string_view{&c.stage, 1}};
        for (auto [name, value] : c.pairs) os << ' ' << name << '=' << quoted{value};
    }
    void operator()(const connect& c) const {
        os << "CONNECT hostname=" << quoted{c.hostname} << " family=" << c.family;
        if (c.family != address_family::unknown) os << " port=" << c.port << " address=" << quoted{c.address};
    }
    void operator()(const helo& c) const { os << "HELO name=" << quoted{c.name}; }
    void operator()(const mail& c) const {
        os << "MAIL address=" << quoted{c.address};
        print_list(os, "arg", c.esmtp_args);
    }
    void operator()(const rcpt& c) const {
        os << "RCPT address=" << quoted{c.address};
        print_list(os, "arg", c.esmtp_args);
    }
    void operator()(const header& c) const { os << "HEADER name=" << quoted{c.name} << " value=" << quoted{c.value}; }
    void operator()(const end_of_headers&) const { os << "EOH"; }
    void operator()(const body& c) const { os << "BODY " << c.chunk.size() << " bytes " << bytes(c.chunk); }
    void operator()(const end_of_body& c) const {
        os << "BODYEOB";
        if (!c.chunk.empty()) os << ' ' << c.chunk.size() << " bytes " << bytes(c.chunk);
    }
    void operator()(const data&) const { os << "DATA"; }
    void operator()(const unknown& c) const { os << "UNKNOWN command=" << quoted{c.line}; }
    void operator()(const abort&) const { os << "ABORT"; }
    void operator()(const quit&) const { os << "QUIT"; }
    void operator()(const quit_new_connection&) const { os << "QUIT_NC"; }
};

struct reply_printer {
    std::ostream& os;
    void operator()(const optneg_reply& r) const {
        os << "OPTNEG version=" << r.version << " actions=" << r.actions << " protocol=" << r.protocol;
        for (std::uint32_t i = 0; i < macro_stage_count; ++i)
            if (r.macros[i]) os << " macros[" << static_cast<macro_stage>(i) << "]=" << quoted{*r.macros[i]};
    }
    template <class T>
        requires std::is_empty_v<T>
    void operator()(T r) const { os << to_string(kind_of(r)); }
    void operator()(const smtp_reply& r) const { os << "REPLYCODE text=" << quoted{r.text}; }
    void operator()(const add_header& r) const { os << "ADDHEADER name=" << quoted{r.name} << " value=" << quoted{r.value}; }
    void operator()(const insert_header& r) const {
        os << "INSHEADER index=" << r.index << " name=" << quoted{r.name} << " value=" << quoted{r.value};
    }
    void operator()(const change_header& r) const {
        os << "CHGHEADER index=" << r.index << " name=" << quoted{r.name} << " value=" << quoted{r.value};
    }
    void operator()(const change_from& r) const {
        os << "CHGFROM sender=" << quoted{r.sender};
        if (!r.esmtp_args.empty()) os << " args=" << quoted{r.esmtp_args};
    }
    void operator()(const add_rcpt& r) const { os << "ADDRCPT rcpt=" << quoted{r.rcpt}; }
    void operator()(const add_rcpt_with_args& r) const {
        os << "ADDRCPT_PAR rcpt=" << quoted{r.rcpt};
        if (!r.esmtp_args.empty()) os << " args=" << quoted{r.esmtp_args};
    }
    void operator()(const del_rcpt& r) const { os << "DELRCPT rcpt=" << quoted{r.rcpt}; }
    void operator()(const replace_body& r) const { os << "REPLBODY " << r.chunk.size() << " bytes " << bytes(r.chunk); }
    void operator()(const quarantine& r) const { os << "QUARANTINE reason=" << quoted{r.reason}; }
};

} // namespace

std::ostream& operator<<(std::ostream& os, const command& c) {
    std::visit(command_printer{os}, c);
    return os;
}

std::ostream& operator<<(std::ostream& os, const reply& r) {
    std::visit(reply_printer{os}, r);
    return os;
}

} // namespace cppmilter::proto
