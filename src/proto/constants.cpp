#include <cppmilter/proto/constants.hpp>

#include <array>
#include <cstdio>
#include <ostream>
#include <utility>

namespace cppmilter::proto {
namespace {

struct letter_name {
    char letter;
    std::string_view name;
};

constexpr letter_name command_names[] = {
    {'A', "ABORT"},  {'B', "BODY"},    {'C', "CONNECT"}, {'D', "MACRO"}, {'E', "BODYEOB"},
    {'H', "HELO"},   {'K', "QUIT_NC"}, {'L', "HEADER"},  {'M', "MAIL"},  {'N', "EOH"},
    {'O', "OPTNEG"}, {'Q', "QUIT"},    {'R', "RCPT"},    {'T', "DATA"},  {'U', "UNKNOWN"},
};

constexpr letter_name reply_names[] = {
    {'O', "OPTNEG"},    {'+', "ADDRCPT"},   {'-', "DELRCPT"},    {'2', "ADDRCPT_PAR"},
    {'4', "SHUTDOWN"},  {'a', "ACCEPT"},    {'b', "REPLBODY"},   {'c', "CONTINUE"},
    {'d', "DISCARD"},   {'e', "CHGFROM"},   {'f', "CONN_FAIL"},  {'h', "ADDHEADER"},
    {'i', "INSHEADER"}, {'l', "SETSYMLIST"}, {'m', "CHGHEADER"}, {'p', "PROGRESS"},
    {'q', "QUARANTINE"}, {'r', "REJECT"},   {'s', "SKIP"},       {'t', "TEMPFAIL"},
    {'y', "REPLYCODE"},
};

template <std::size_t N>
std::optional<std::string_view> find_name(const letter_name (&table)[N], char letter) noexcept {
    for (const auto& e : table)
        if (e.letter == letter) return e.name;
    return std::nullopt;
}

struct bit_name {
    std::uint32_t bit;
    std::string_view name;
};

constexpr bit_name action_names[] = {
    {0x001, "ADDHDRS"},  {0x002, "CHGBODY"},    {0x004, "ADDRCPT"},
    {0x008, "DELRCPT"},  {0x010, "CHGHDRS"},    {0x020, "QUARANTINE"},
    {0x040, "CHGFROM"},  {0x080, "ADDRCPT_PAR"}, {0x100, "SETSYMLIST"},
};

constexpr bit_name protocol_names[] = {
    {0x00000001, "NOCONNECT"}, {0x00000002, "NOHELO"},     {0x00000004, "NOMAIL"},
    {0x00000008, "NORCPT"},    {0x00000010, "NOBODY"},     {0x00000020, "NOHDRS"},
    {0x00000040, "NOEOH"},     {0x00000080, "NR_HDR"},     {0x00000100, "NOUNKNOWN"},
    {0x00000200, "NODATA"},    {0x00000400, "SKIP"},       {0x00000800, "RCPT_REJ"},
    {0x00001000, "NR_CONN"},   {0x00002000, "NR_HELO"},    {0x00004000, "NR_MAIL"},
    {0x00008000, "NR_RCPT"},   {0x00010000, "NR_DATA"},    {0x00020000, "NR_UNKN"},
    {0x00040000, "NR_EOH"},    {0x00080000, "NR_BODY"},    {0x00100000, "HDR_LEADSPC"},
    {0x10000000, "MDS_256K"},  {0x20000000, "MDS_1M"},
};

template <std::size_t N>
std::string flags_to_string(const bit_name (&table)[N], std::uint32_t bits) {
    if (bits == 0) return "0";
    std::string s;
    for (const auto& e : table) {
        if ((bits & e.bit) == 0) continue;
        if (!s.empty()) s += '|';
        s += e.name;
        bits &= ~e.bit;
    }
    if (bits != 0) {
        char hex[16];
        std::snprintf(hex, sizeof hex, "0x%x", bits);
        if (!s.empty()) s += '|';
        s += hex;
    }
    return s;
}

} // namespace

std::optional<std::string_view> name_of_command(char letter) noexcept {
    return find_name(command_names, letter);
}
std::optional<std::string_view> name_of_reply(char letter) noexcept {
    return find_name(reply_names, letter);
}
std::string_view to_string(command_kind c) noexcept {
    return name_of_command(static_cast<char>(c)).value_or("?");
}
std::string_view to_string(reply_kind r) noexcept {
    return name_of_reply(static_cast<char>(r)).value_or("?");
}
std::ostream& operator<<(std::ostream& os, command_kind c) { return os << to_string(c); }
std::ostream& operator<<(std::ostream& os, reply_kind r) { return os << to_string(r); }

std::string to_string(action_set s) { return flags_to_string(action_names, s.bits()); }
std::string to_string(protocol_set s) { return flags_to_string(protocol_names, s.bits()); }
std::ostream& operator<<(std::ostream& os, action_set s) { return os << to_string(s); }
std::ostream& operator<<(std::ostream& os, protocol_set s) { return os << to_string(s); }

std::string_view to_string(macro_stage s) noexcept {
    constexpr std::string_view names[] = {"connect", "helo", "mail", "rcpt",
                                          "data", "end_of_message", "end_of_headers"};
    auto i = static_cast<std::uint32_t>(s);
    return i < macro_stage_count ? names[i] : "?";
}
std::ostream& operator<<(std::ostream& os, macro_stage s) { return os << to_string(s); }

std::string_view to_string(address_family f) noexcept {
    switch (f) {
    case address_family::inet: return "inet";
    case address_family::inet6: return "inet6";
    case address_family::unix_socket: return "unix";
    case address_family::unknown: return "unknown";
    }
    return "?";
}
std::ostream& operator<<(std::ostream& os, address_family f) { return os << to_string(f); }

} // namespace cppmilter::proto
