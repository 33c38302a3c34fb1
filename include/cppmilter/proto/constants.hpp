// Constants of milter protocol version 6 (PROTOCOL.md §2), as typed enums and flag sets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace cppmilter::proto {

/// Highest protocol version spoken (§2.7); versions below 2 are refused.
inline constexpr std::uint32_t protocol_version = 6;
inline constexpr std::uint32_t min_protocol_version = 2;

/// Size of the length prefix of every packet (§1.2).
inline constexpr std::size_t length_prefix_size = 4;
/// Largest BODY / REPLBODY chunk that libmilter and Sendmail produce (§1.4).
inline constexpr std::size_t max_body_chunk = 65535;
/// Payload limits selectable by the MDS protocol bits (§1.4).
inline constexpr std::size_t max_payload_64k = 65535;
inline constexpr std::size_t max_payload_256k = 262143;
inline constexpr std::size_t max_payload_1m = 1048575;
/// Our default limit on one packet's payload: Postfix sends headers up to its
/// header_size_limit (100 KiB by default) in one packet, so 64 KiB is too little (§1.4).
inline constexpr std::size_t default_max_payload = max_payload_1m;

/// Commands, MTA to filter (SMFIC_*, §2.1).
enum class command_kind : char {
    abort = 'A',
    body = 'B',
    connect = 'C',
    macro = 'D',
    end_of_body = 'E',
    helo = 'H',
    quit_new_connection = 'K',
    header = 'L',
    mail = 'M',
    end_of_headers = 'N',
    optneg = 'O',
    quit = 'Q',
    rcpt = 'R',
    data = 'T',
    unknown = 'U',
};

/// Responses, filter to MTA (SMFIR_* and the OPTNEG reply, §2.2).
enum class reply_kind : char {
    optneg = 'O',
    add_rcpt = '+',
    del_rcpt = '-',
    add_rcpt_with_args = '2',
    shutdown = '4',
    accept = 'a',
    replace_body = 'b',
    continue_ = 'c',
    discard = 'd',
    change_from = 'e',
    connection_failure = 'f',
    add_header = 'h',
    insert_header = 'i',
    set_symbol_list = 'l',
    change_header = 'm',
    progress = 'p',
    quarantine = 'q',
    reject = 'r',
    skip = 's',
    tempfail = 't',
    smtp_reply = 'y',
};

/// SMFIC_* name of a command letter ("HEADER"), or nullopt when the letter is no command.
std::optional<std::string_view> name_of_command(char letter) noexcept;
/// SMFIR_* name of a reply letter ("ADDHEADER"), or nullopt when the letter is no reply.
std::optional<std::string_view> name_of_reply(char letter) noexcept;
std::string_view to_string(command_kind c) noexcept;
std::string_view to_string(reply_kind r) noexcept;
std::ostream& operator<<(std::ostream& os, command_kind c);
std::ostream& operator<<(std::ostream& os, reply_kind r);

/// Action bits (SMFIF_*, §2.3): what the filter may do at end of message.
enum class action : std::uint32_t {
    add_headers = 0x001,
    change_body = 0x002,
    add_rcpt = 0x004,
    del_rcpt = 0x008,
    change_headers = 0x010,
    quarantine = 0x020,
    change_from = 0x040,
    add_rcpt_with_args = 0x080,
    set_symbol_list = 0x100,
};

/// Protocol bits (SMFIP_*, §2.4): NO* (do not send), NR* (no reply) and feature bits.
enum class protocol : std::uint32_t {
    no_connect = 0x00000001,
    no_helo = 0x00000002,
    no_mail = 0x00000004,
    no_rcpt = 0x00000008,
    no_body = 0x00000010,
    no_headers = 0x00000020,
    no_end_of_headers = 0x00000040,
    no_reply_header = 0x00000080,
    no_unknown = 0x00000100,
    no_data = 0x00000200,
    skip = 0x00000400,
    rcpt_rejected = 0x00000800,
    no_reply_connect = 0x00001000,
    no_reply_helo = 0x00002000,
    no_reply_mail = 0x00004000,
    no_reply_rcpt = 0x00008000,
    no_reply_data = 0x00010000,
    no_reply_unknown = 0x00020000,
    no_reply_end_of_headers = 0x00040000,
    no_reply_body = 0x00080000,
    header_leading_space = 0x00100000,
    max_data_size_256k = 0x10000000,
    max_data_size_1m = 0x20000000,
};

/// A set of bits of one flag enum. Prints as the protocol's names: `NOCONNECT|NR_HDR`.
template <class Flag>
class flag_set {
public:
    using bits_type = std::uint32_t;

    constexpr flag_set() noexcept = default;
    constexpr flag_set(Flag f) noexcept : bits_{static_cast<bits_type>(f)} {} // NOLINT: implicit by design
    static constexpr flag_set from_bits(bits_type bits) noexcept {
        flag_set s;
        s.bits_ = bits;
        return s;
    }

    constexpr bits_type bits() const noexcept { return bits_; }
    constexpr bool empty() const noexcept { return bits_ == 0; }
    constexpr bool has(Flag f) const noexcept { return (bits_ & static_cast<bits_type>(f)) != 0; }
    constexpr bool contains(flag_set other) const noexcept {
        return (bits_ & other.bits_) == other.bits_;
    }

    constexpr flag_set& operator|=(flag_set o) noexcept { bits_ |= o.bits_; return *this; }
    constexpr flag_set& operator&=(flag_set o) noexcept { bits_ &= o.bits_; return *this; }
    constexpr flag_set& operator-=(flag_set o) noexcept { bits_ &= ~o.bits_; return *this; }
    friend constexpr flag_set operator|(flag_set a, flag_set b) noexcept { return a |= b; }
    friend constexpr flag_set operator&(flag_set a, flag_set b) noexcept { return a &= b; }
    /// Set difference: the bits of `a` that are not in `b`.
    friend constexpr flag_set operator-(flag_set a, flag_set b) noexcept { return a -= b; }
    friend constexpr bool operator==(flag_set, flag_set) noexcept = default;

private:
    bits_type bits_ = 0;
};

using action_set = flag_set<action>;
using protocol_set = flag_set<protocol>;

constexpr action_set operator|(action a, action b) noexcept { return action_set{a} | b; }
constexpr protocol_set operator|(protocol a, protocol b) noexcept { return protocol_set{a} | b; }

/// Masks of §2.3 / §2.4.
inline constexpr action_set v1_actions = action_set::from_bits(0x0000000F);
inline constexpr action_set v2_actions = action_set::from_bits(0x0000003F);
inline constexpr action_set all_actions = action_set::from_bits(0x000001FF);
inline constexpr protocol_set v1_protocol = protocol_set::from_bits(0x0000003F);
inline constexpr protocol_set v2_protocol = protocol_set::from_bits(0x0000007F);
inline constexpr protocol_set all_protocol = protocol_set::from_bits(0x001FFFFF);
/// Bits used only between MTA and libmilter (MDS bits and a reserved one): never echoed.
inline constexpr protocol_set internal_protocol = protocol_set::from_bits(0x70000000);

/// "NOCONNECT|NR_HDR"; "0" when empty; unknown bits print as hex ("SKIP|0x40000000").
std::string to_string(action_set s);
std::string to_string(protocol_set s);
std::ostream& operator<<(std::ostream& os, action_set s);
std::ostream& operator<<(std::ostream& os, protocol_set s);
inline std::string to_string(action a) { return to_string(action_set{a}); }
inline std::string to_string(protocol p) { return to_string(protocol_set{p}); }

/// Macro stages (SMFIM_*, §2.5), as used in the OPTNEG reply. EOM (5) comes before EOH (6).
enum class macro_stage : std::uint32_t {
    connect = 0,
    helo = 1,
    mail = 2,
    rcpt = 3,
    data = 4,
    end_of_message = 5,
    end_of_headers = 6,
};
inline constexpr std::size_t macro_stage_count = 7;
std::string_view to_string(macro_stage s) noexcept;
std::ostream& operator<<(std::ostream& os, macro_stage s);
/// The command letter whose MACRO packet carries the macros of stage `s` (§2.5).
constexpr char macro_letter(macro_stage s) noexcept {
    constexpr char letters[] = {'C', 'H', 'M', 'R', 'T', 'E', 'N'};
    return letters[static_cast<std::uint32_t>(s)];
}

/// Address family of CONNECT (SMFIA_*, §2.6).
enum class address_family : char {
    inet = '4',
    inet6 = '6',
    unix_socket = 'L',
    unknown = 'U',
};
std::string_view to_string(address_family f) noexcept;
std::ostream& operator<<(std::ostream& os, address_family f);

} // namespace cppmilter::proto
