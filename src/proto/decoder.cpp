#include <cppmilter/proto/decoder.hpp>
#include <cppmilter/proto/detail/cursor.hpp>

#include <algorithm>
#include <cstring>
#include <memory>

namespace cppmilter::proto {

// ---------------------------------------------------------------- framing (§1.2)

void packet_reader::make_room(std::size_t n) {
    if (capacity_ - end_ >= n) return;
    if (begin_ > 0) { // slide the unread tail to the front before growing
        std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
        if (capacity_ - end_ >= n) return;
    }
    // Not value-initialised: a connection reallocates its buffer after every idle spell, and
    // zeroing 64 KiB that a read overwrites anyway would cost more than the read.
    const std::size_t grown = std::max(end_ + n, capacity_ * 2);
    auto bigger = std::make_unique_for_overwrite<char[]>(grown);
    if (end_ > 0) std::memcpy(bigger.get(), buffer_.get(), end_);
    buffer_ = std::move(bigger);
    capacity_ = grown;
}

void packet_reader::feed(std::string_view bytes) {
    if (bytes.empty()) return;
    make_room(bytes.size());
    std::memcpy(buffer_.get() + end_, bytes.data(), bytes.size());
    end_ += bytes.size();
}

std::span<char> packet_reader::prepare(std::size_t n) {
    make_room(n);
    return {buffer_.get() + end_, capacity_ - end_};
}

std::optional<result<packet>> packet_reader::next() {
    if (broken_) return result<packet>{*broken_};
    if (begin_ == end_) {
        begin_ = end_ = 0; // everything handed out: the next bytes start at the front again
        return std::nullopt;
    }
    const std::size_t available = end_ - begin_;
    if (available < length_prefix_size) return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(buffer_.get() + begin_);
    const std::uint32_t len = detail::load_u32(p);
    // Check the length before waiting for the payload: a bad length must not make us buffer.
    if (len == 0) {
        broken_ = error{errc::zero_length, 0, "length"};
        return result<packet>{*broken_};
    }
    if (len - 1 > max_payload_) {
        // Wait for the command letter, so that the error names it however the bytes were split.
        if (available <= length_prefix_size) return std::nullopt;
        broken_ = error{errc::packet_too_large, static_cast<char>(p[4]), "length"};
        return result<packet>{*broken_};
    }
    if (available < length_prefix_size + len) return std::nullopt;
    packet pk{buffer_[begin_ + length_prefix_size],
              std::string_view{buffer_.get() + begin_ + length_prefix_size + 1, len - 1}};
    begin_ += length_prefix_size + len;
    return result<packet>{pk};
}

// ---------------------------------------------------------------- commands (§3)

namespace {

using detail::cursor;

result<command> parse_optneg(cursor& c) {
    auto version = c.u32("version");
    auto actions = c.u32("actions");
    auto proto = c.u32("protocol");
    if (!c) return c.failure();
    if (*version < min_protocol_version) return error{errc::unsupported_version, 'O', "version"};
    // Later versions may append fields; libmilter ignores them too (§3.1).
    return optneg{*version, action_set::from_bits(*actions), protocol_set::from_bits(*proto)};
}

result<command> parse_macro(cursor& c) {
    auto stage = c.byte("stage");
    if (!c) return c.failure();
    auto pairs = c.rest();
    // Validate the pairs once here so that iterating them later cannot fail.
    std::size_t strings = 0;
    for (char ch : pairs) strings += ch == '\0';
    if (!pairs.empty() && pairs.back() != '\0') return error{errc::missing_nul, 'D', strings % 2 ? "value" : "name"};
    if (strings % 2 != 0) return error{errc::truncated, 'D', "value"};
    return macro{*stage, macro_pairs{pairs}};
}

result<command> parse_connect(cursor& c) {
    auto host = c.string("hostname");
    auto family = c.byte("family");
    if (!c) return c.failure();
    connect out{*host, static_cast<address_family>(*family), 0, {}};
    switch (out.family) {
    case address_family::unknown:
        break; // no port and address (§2.6)
    case address_family::inet:
    case address_family::inet6:
    case address_family::unix_socket: {
        auto port = c.u16("port");
        auto address = c.string("address");
        if (!c) return c.failure();
        out.port = *port;
        out.address = *address;
        break;
    }
    default:
        return error{errc::unknown_address_family, 'C', "family"};
    }
    if (auto end = c.end("address"); !end) return end.error();
    return out;
}

template <class T>
result<command> parse_one_string(cursor& c, std::string_view field) {
    auto s = c.string(field);
    if (!c) return c.failure();
    if (auto end = c.end(field); !end) return end.error();
    return T{*s};
}

template <class T>
result<command> parse_envelope(cursor& c) {
    auto address = c.string("address");
    if (!c) return c.failure();
    auto args = c.rest();
    if (!args.empty() && args.back() != '\0') return error{errc::missing_nul, c.letter(), "esmtp argument"};
    return T{*address, string_list{args}};
}

result<command> parse_header(cursor& c) {
    auto name = c.string("name");
    auto value = c.string("value");
    if (!c) return c.failure();
    if (auto end = c.end("value"); !end) return end.error();
    return header{*name, *value};
}

template <class T>
result<command> parse_empty(cursor& c) {
    if (auto end = c.end("payload"); !end) return end.error();
    return T{};
}

} // namespace

result<command> parse_command(packet p) {
    cursor c{p};
    switch (static_cast<command_kind>(p.letter)) {
    case command_kind::optneg: return parse_optneg(c);
    case command_kind::macro: return parse_macro(c);
    case command_kind::connect: return parse_connect(c);
    case command_kind::helo: return parse_one_string<helo>(c, "helo name");
    case command_kind::mail: return parse_envelope<mail>(c);
    case command_kind::rcpt: return parse_envelope<rcpt>(c);
    case command_kind::header: return parse_header(c);
    case command_kind::end_of_headers: return parse_empty<end_of_headers>(c);
    case command_kind::body: return body{p.payload};
    case command_kind::end_of_body: return end_of_body{p.payload};
    case command_kind::data: return parse_empty<data>(c);
    case command_kind::unknown: return parse_one_string<unknown>(c, "command");
    case command_kind::abort: return parse_empty<abort>(c);
    case command_kind::quit: return parse_empty<quit>(c);
    case command_kind::quit_new_connection: return parse_empty<quit_new_connection>(c);
    }
    return error{errc::unknown_command, p.letter, {}};
}

// ---------------------------------------------------------------- replies (§4, §5)

namespace {

result<reply> parse_optneg_reply(cursor& c) {
    auto version = c.u32("version");
    auto actions = c.u32("actions");
    auto proto = c.u32("protocol");
    if (!c) return c.failure();
    if (*version < min_protocol_version) return error{errc::unsupported_version, 'O', "version"};
    optneg_reply out{*version, action_set::from_bits(*actions), protocol_set::from_bits(*proto), {}};
    while (!c.at_end()) { // macro lists (§5.2): u32 stage + list string, until the payload ends
        auto stage = c.u32("macro stage");
        auto list = c.string("macro list");
        if (!c) return c.failure();
        if (*stage >= macro_stage_count) return error{errc::unexpected_payload, 'O', "macro stage"};
        out.macros[*stage] = *list;
    }
    return out;
}

template <class T>
result<reply> parse_empty_reply(cursor& c) {
    if (auto end = c.end("payload"); !end) return end.error();
    return T{};
}

result<reply> parse_smtp_reply(cursor& c) {
    auto text = c.string("text");
    if (!c) return c.failure();
    if (auto end = c.end("text"); !end) return end.error();
    if (auto valid = validate_smtp_reply(*text); !valid) return valid.error();
    return smtp_reply{*text};
}

template <class T>
result<reply> parse_header_change(cursor& c, bool indexed) {
    std::uint32_t index = 0;
    if (indexed) {
        auto i = c.u32("index");
        if (!c) return c.failure();
        index = *i;
    }
    auto name = c.string("name");
    auto value = c.string("value");
    if (!c) return c.failure();
    if (auto end = c.end("value"); !end) return end.error();
    if (name->empty()) return error{errc::empty_field, c.letter(), "name"};
    if constexpr (std::is_same_v<T, add_header>) return T{*name, *value};
    else return T{index, *name, *value};
}

template <class T>
result<reply> parse_address_reply(cursor& c) {
    auto address = c.string("address");
    if (!c) return c.failure();
    if (address->empty()) return error{errc::empty_field, c.letter(), "address"};
    if constexpr (requires(T t) { t.esmtp_args; }) {
        std::string_view args;
        if (!c.at_end()) { // the arguments string is optional (§4.2)
            auto a = c.string("esmtp arguments");
            if (!c) return c.failure();
            args = *a;
        }
        if (auto end = c.end("esmtp arguments"); !end) return end.error();
        return T{*address, args};
    } else {
        if (auto end = c.end("address"); !end) return end.error();
        return T{*address};
    }
}

result<reply> parse_quarantine(cursor& c) {
    auto reason = c.string("reason");
    if (!c) return c.failure();
    if (auto end = c.end("reason"); !end) return end.error();
    if (reason->empty()) return error{errc::empty_field, 'q', "reason"};
    return quarantine{*reason};
}

} // namespace

result<reply> parse_reply(packet p) {
    cursor c{p};
    switch (static_cast<reply_kind>(p.letter)) {
    case reply_kind::optneg: return parse_optneg_reply(c);
    case reply_kind::continue_: return parse_empty_reply<continue_>(c);
    case reply_kind::accept: return parse_empty_reply<accept>(c);
    case reply_kind::reject: return parse_empty_reply<reject>(c);
    case reply_kind::tempfail: return parse_empty_reply<tempfail>(c);
    case reply_kind::discard: return parse_empty_reply<discard>(c);
    case reply_kind::skip: return parse_empty_reply<skip>(c);
    case reply_kind::shutdown: return parse_empty_reply<shutdown>(c);
    case reply_kind::progress: return parse_empty_reply<progress>(c);
    case reply_kind::smtp_reply: return parse_smtp_reply(c);
    case reply_kind::add_header: return parse_header_change<add_header>(c, false);
    case reply_kind::insert_header: return parse_header_change<insert_header>(c, true);
    case reply_kind::change_header: return parse_header_change<change_header>(c, true);
    case reply_kind::change_from: return parse_address_reply<change_from>(c);
    case reply_kind::add_rcpt: return parse_address_reply<add_rcpt>(c);
    case reply_kind::add_rcpt_with_args: return parse_address_reply<add_rcpt_with_args>(c);
    case reply_kind::del_rcpt: return parse_address_reply<del_rcpt>(c);
    case reply_kind::replace_body: return replace_body{p.payload};
    case reply_kind::quarantine: return parse_quarantine(c);
    // Defined, but no MTA accepts them (§2.2): treat them as the protocol errors they are.
    case reply_kind::connection_failure: return error{errc::unknown_reply, p.letter, "CONN_FAIL is accepted by no MTA"};
    case reply_kind::set_symbol_list: return error{errc::unknown_reply, p.letter, "SETSYMLIST is never sent as a packet"};
    }
    return error{errc::unknown_reply, p.letter, {}};
}

} // namespace cppmilter::proto
