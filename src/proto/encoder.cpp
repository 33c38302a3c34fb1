#include <cppmilter/proto/encoder.hpp>

#include <cstring>

namespace cppmilter::proto {
namespace {

/// Builds one packet in place: the length is patched in when the packet is finished, so
/// fields are appended straight into the caller's buffer without a temporary.
class packet_writer {
public:
    packet_writer(std::string& out, char letter) : out_{out}, start_{out.size()} {
        out_.append(length_prefix_size, '\0');
        out_.push_back(letter);
    }
    void u32(std::uint32_t v) {
        const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                           static_cast<char>(v >> 8), static_cast<char>(v)};
        out_.append(b, 4);
    }
    void u16(std::uint16_t v) {
        out_.push_back(static_cast<char>(v >> 8));
        out_.push_back(static_cast<char>(v));
    }
    void byte(char c) { out_.push_back(c); }
    void raw(std::string_view s) { out_.append(s); }
    void string(std::string_view s) {
        out_.append(s);
        out_.push_back('\0');
    }
    void finish() {
        const auto len = static_cast<std::uint32_t>(out_.size() - start_ - length_prefix_size);
        out_[start_] = static_cast<char>(len >> 24);
        out_[start_ + 1] = static_cast<char>(len >> 16);
        out_[start_ + 2] = static_cast<char>(len >> 8);
        out_[start_ + 3] = static_cast<char>(len);
    }

private:
    std::string& out_;
    std::size_t start_;
};

void empty_packet(std::string& out, char letter) {
    const char p[5] = {0, 0, 0, 1, letter};
    out.append(p, 5);
}

/// Fields that end up as NUL-terminated strings must not hold a NUL themselves.
result<void> check_string(std::string_view s, char letter, std::string_view field) {
    if (s.find('\0') != std::string_view::npos) return error{errc::embedded_nul, letter, field};
    return {};
}

/// `raw` of a string_list / macro_pairs must be empty or end in NUL, or the wire form breaks.
result<void> check_list(std::string_view raw, char letter, std::string_view field) {
    if (!raw.empty() && raw.back() != '\0') return error{errc::missing_nul, letter, field};
    return {};
}

void chunked(std::string& out, char letter, std::string_view bytes) {
    do { // an empty body still yields one (empty) packet
        const auto n = std::min(bytes.size(), max_body_chunk);
        packet_writer w{out, letter};
        w.raw(bytes.substr(0, n));
        w.finish();
        bytes.remove_prefix(n);
    } while (!bytes.empty());
}

template <class T>
constexpr char letter_of() {
    return static_cast<char>(kind_of(T{}));
}

} // namespace

// ---------------------------------------------------------------- replies

template <reply_type T>
result<void> encode(std::string& out, const T& r) {
    constexpr char letter = letter_of<T>();
    if constexpr (std::is_same_v<T, optneg_reply>) {
        if (r.version < min_protocol_version) return error{errc::unsupported_version, letter, "version"};
        for (const auto& list : r.macros)
            if (list)
                if (auto ok = check_string(*list, letter, "macro list"); !ok) return ok;
        packet_writer w{out, letter};
        w.u32(r.version);
        w.u32(r.actions.bits());
        w.u32(r.protocol.bits());
        for (std::uint32_t stage = 0; stage < macro_stage_count; ++stage) {
            if (!r.macros[stage]) continue;
            w.u32(stage);
            w.string(*r.macros[stage]);
        }
        w.finish();
    } else if constexpr (std::is_empty_v<T>) {
        empty_packet(out, letter);
    } else if constexpr (std::is_same_v<T, smtp_reply>) {
        if (auto ok = validate_smtp_reply(r.text); !ok) return ok;
        packet_writer w{out, letter};
        w.string(r.text);
        w.finish();
    } else if constexpr (std::is_same_v<T, add_header> || std::is_same_v<T, insert_header> ||
                         std::is_same_v<T, change_header>) {
        if (r.name.empty()) return error{errc::empty_field, letter, "name"};
        if (auto ok = check_string(r.name, letter, "name"); !ok) return ok;
        if (auto ok = check_string(r.value, letter, "value"); !ok) return ok;
        packet_writer w{out, letter};
        if constexpr (!std::is_same_v<T, add_header>) w.u32(r.index);
        w.string(r.name);
        w.string(r.value);
        w.finish();
    } else if constexpr (std::is_same_v<T, change_from> || std::is_same_v<T, add_rcpt_with_args>) {
        const std::string_view address = [&] {
            if constexpr (std::is_same_v<T, change_from>) return r.sender;
            else return r.rcpt;
        }();
        if (address.empty()) return error{errc::empty_field, letter, "address"};
        if (auto ok = check_string(address, letter, "address"); !ok) return ok;
        if (auto ok = check_string(r.esmtp_args, letter, "esmtp arguments"); !ok) return ok;
        packet_writer w{out, letter};
        w.string(address);
        if (!r.esmtp_args.empty()) w.string(r.esmtp_args); // optional (§4.2)
        w.finish();
    } else if constexpr (std::is_same_v<T, add_rcpt> || std::is_same_v<T, del_rcpt>) {
        if (r.rcpt.empty()) return error{errc::empty_field, letter, "address"};
        if (auto ok = check_string(r.rcpt, letter, "address"); !ok) return ok;
        packet_writer w{out, letter};
        w.string(r.rcpt);
        w.finish();
    } else if constexpr (std::is_same_v<T, replace_body>) {
        chunked(out, letter, r.chunk);
    } else {
        static_assert(std::is_same_v<T, quarantine>);
        if (r.reason.empty()) return error{errc::empty_field, letter, "reason"};
        if (auto ok = check_string(r.reason, letter, "reason"); !ok) return ok;
        packet_writer w{out, letter};
        w.string(r.reason);
        w.finish();
    }
    return {};
}

result<void> encode(std::string& out, const reply& r) {
    return std::visit([&](const auto& x) { return encode(out, x); }, r);
}

// ---------------------------------------------------------------- commands

template <command_type T>
result<void> encode(std::string& out, const T& c) {
    constexpr char letter = letter_of<T>();
    if constexpr (std::is_same_v<T, optneg>) {
        packet_writer w{out, letter};
        w.u32(c.version);
        w.u32(c.actions.bits());
        w.u32(c.protocol.bits());
        w.finish();
    } else if constexpr (std::is_empty_v<T>) {
        empty_packet(out, letter);
    } else if constexpr (std::is_same_v<T, macro>) {
        if (auto ok = check_list(c.pairs.raw(), letter, "value"); !ok) return ok;
        if (string_list{c.pairs.raw()}.size() % 2 != 0) return error{errc::truncated, letter, "value"};
        packet_writer w{out, letter};
        w.byte(c.stage);
        w.raw(c.pairs.raw());
        w.finish();
    } else if constexpr (std::is_same_v<T, connect>) {
        if (auto ok = check_string(c.hostname, letter, "hostname"); !ok) return ok;
        if (auto ok = check_string(c.address, letter, "address"); !ok) return ok;
        switch (c.family) {
        case address_family::unknown:
        case address_family::inet:
        case address_family::inet6:
        case address_family::unix_socket: break;
        default: return error{errc::unknown_address_family, letter, "family"};
        }
        packet_writer w{out, letter};
        w.string(c.hostname);
        w.byte(static_cast<char>(c.family));
        if (c.family != address_family::unknown) {
            w.u16(c.port);
            w.string(c.address);
        }
        w.finish();
    } else if constexpr (std::is_same_v<T, mail> || std::is_same_v<T, rcpt>) {
        if (auto ok = check_string(c.address, letter, "address"); !ok) return ok;
        if (auto ok = check_list(c.esmtp_args.raw(), letter, "esmtp argument"); !ok) return ok;
        packet_writer w{out, letter};
        w.string(c.address);
        w.raw(c.esmtp_args.raw());
        w.finish();
    } else if constexpr (std::is_same_v<T, header>) {
        if (auto ok = check_string(c.name, letter, "name"); !ok) return ok;
        if (auto ok = check_string(c.value, letter, "value"); !ok) return ok;
        packet_writer w{out, letter};
        w.string(c.name);
        w.string(c.value);
        w.finish();
    } else if constexpr (std::is_same_v<T, body>) {
        chunked(out, letter, c.chunk);
    } else if constexpr (std::is_same_v<T, end_of_body>) {
        packet_writer w{out, letter};
        w.raw(c.chunk);
        w.finish();
    } else {
        static_assert(std::is_same_v<T, helo> || std::is_same_v<T, unknown>);
        const std::string_view s = [&] {
            if constexpr (std::is_same_v<T, helo>) return c.name;
            else return c.line;
        }();
        if (auto ok = check_string(s, letter, std::is_same_v<T, helo> ? "helo name" : "command"); !ok) return ok;
        packet_writer w{out, letter};
        w.string(s);
        w.finish();
    }
    return {};
}

result<void> encode(std::string& out, const command& c) {
    return std::visit([&](const auto& x) { return encode(out, x); }, c);
}

namespace {
result<void> encode_envelope(std::string& out, char letter, std::string_view address,
                             std::span<const std::string_view> args) {
    if (auto ok = check_string(address, letter, "address"); !ok) return ok;
    for (auto a : args)
        if (auto ok = check_string(a, letter, "esmtp argument"); !ok) return ok;
    packet_writer w{out, letter};
    w.string(address);
    for (auto a : args) w.string(a);
    w.finish();
    return {};
}
} // namespace

result<void> encode_mail(std::string& out, std::string_view address, std::span<const std::string_view> args) {
    return encode_envelope(out, 'M', address, args);
}
result<void> encode_rcpt(std::string& out, std::string_view address, std::span<const std::string_view> args) {
    return encode_envelope(out, 'R', address, args);
}

result<void> encode_macro(std::string& out, char stage,
                          std::span<const std::pair<std::string_view, std::string_view>> pairs) {
    for (const auto& [name, value] : pairs) {
        if (auto ok = check_string(name, 'D', "name"); !ok) return ok;
        if (auto ok = check_string(value, 'D', "value"); !ok) return ok;
    }
    packet_writer w{out, 'D'};
    w.byte(stage);
    for (const auto& [name, value] : pairs) {
        w.string(name);
        w.string(value);
    }
    w.finish();
    return {};
}

// Explicit instantiations: the templates live here so users' builds stay light.
#define CPPMILTER_INSTANTIATE(T) template result<void> encode<T>(std::string&, const T&);
CPPMILTER_INSTANTIATE(optneg_reply)
CPPMILTER_INSTANTIATE(continue_)
CPPMILTER_INSTANTIATE(accept)
CPPMILTER_INSTANTIATE(reject)
CPPMILTER_INSTANTIATE(tempfail)
CPPMILTER_INSTANTIATE(discard)
CPPMILTER_INSTANTIATE(skip)
CPPMILTER_INSTANTIATE(shutdown)
CPPMILTER_INSTANTIATE(progress)
CPPMILTER_INSTANTIATE(smtp_reply)
CPPMILTER_INSTANTIATE(add_header)
CPPMILTER_INSTANTIATE(insert_header)
CPPMILTER_INSTANTIATE(change_header)
CPPMILTER_INSTANTIATE(change_from)
CPPMILTER_INSTANTIATE(add_rcpt)
CPPMILTER_INSTANTIATE(add_rcpt_with_args)
CPPMILTER_INSTANTIATE(del_rcpt)
CPPMILTER_INSTANTIATE(replace_body)
CPPMILTER_INSTANTIATE(quarantine)
CPPMILTER_INSTANTIATE(optneg)
CPPMILTER_INSTANTIATE(macro)
CPPMILTER_INSTANTIATE(connect)
CPPMILTER_INSTANTIATE(helo)
CPPMILTER_INSTANTIATE(mail)
CPPMILTER_INSTANTIATE(rcpt)
CPPMILTER_INSTANTIATE(header)
CPPMILTER_INSTANTIATE(end_of_headers)
CPPMILTER_INSTANTIATE(body)
CPPMILTER_INSTANTIATE(end_of_body)
CPPMILTER_INSTANTIATE(data)
CPPMILTER_INSTANTIATE(unknown)
CPPMILTER_INSTANTIATE(abort)
CPPMILTER_INSTANTIATE(quit)
CPPMILTER_INSTANTIATE(quit_new_connection)
#undef CPPMILTER_INSTANTIATE

} // namespace cppmilter::proto
