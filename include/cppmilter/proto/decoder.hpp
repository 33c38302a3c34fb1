// Incremental, sans-I/O decoding: bytes in any split → whole packets → typed commands/replies.
#pragma once

#include <cppmilter/proto/commands.hpp>
#include <cppmilter/proto/constants.hpp>
#include <cppmilter/proto/error.hpp>
#include <cppmilter/proto/replies.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

namespace cppmilter::proto {

/// One framed packet (§1.2): the command/reply letter and its payload.
struct packet {
    char letter = 0;
    std::string_view payload;
};

/// Parses one packet from the MTA into a typed command (views into `p.payload`).
result<command> parse_command(packet p);
/// Parses one packet from the filter into a typed reply (views into `p.payload`).
result<reply> parse_reply(packet p);

/// Splits a byte stream into packets. Bytes go in with feed() (copying) or prepare()/commit()
/// (read straight into the reader's buffer, as an Asio read does); next() hands out whole
/// packets as views. The buffer grows to the largest packet seen and is then reused, so no
/// allocation happens per packet after warm-up.
///
/// Views from next() stay valid until the next feed() or prepare(); several packets taken out
/// in a row may be held at once. A framing error (a length of 0 or above the limit) loses
/// the stream's framing for good: every later next() returns the same error.
class packet_reader {
public:
    explicit packet_reader(std::size_t max_payload = default_max_payload) : max_payload_{max_payload} {}

    /// Largest accepted payload (len − 1), checked as soon as a length field arrives.
    void set_max_payload(std::size_t n) noexcept { max_payload_ = n; }
    std::size_t max_payload() const noexcept { return max_payload_; }

    /// Appends a copy of `bytes`.
    void feed(std::string_view bytes);
    /// Room for at least `n` more bytes; write into it, then commit() what was written.
    std::span<char> prepare(std::size_t n);
    void commit(std::size_t n) noexcept { end_ += n; }

    /// The next whole packet; nullopt when more bytes are needed; an error on bad framing.
    std::optional<result<packet>> next();

    /// Bytes received but not yet handed out as packets.
    std::size_t buffered() const noexcept { return end_ - begin_; }
    /// True when the stream ended cleanly between packets (nothing partial is buffered).
    bool at_packet_boundary() const noexcept { return buffered() == 0; }
    /// Frees the buffer if it holds nothing and has grown beyond `keep` bytes (a body read in
    /// big chunks): a connection that once took a large message does not keep its memory.
    /// Views from next() die with it.
    void release_if_larger(std::size_t keep) noexcept {
        if (begin_ == end_ && capacity_ > keep) {
            buffer_.reset();
            capacity_ = begin_ = end_ = 0;
        }
    }
    std::size_t capacity() const noexcept { return capacity_; }

    /// A buffer lent out and back (a server keeps a few per thread for the connections that
    /// read, instead of one per connection).
    struct storage {
        std::unique_ptr<char[]> bytes;
        std::size_t capacity = 0;
    };
    /// Gives the buffer away if it holds nothing (else returns an empty storage).
    storage take_storage() noexcept {
        if (begin_ != end_ || !buffer_) return {};
        begin_ = end_ = 0;
        return {std::move(buffer_), std::exchange(capacity_, 0)};
    }
    /// Uses `s` as the buffer if this reader has none; else leaves `s` as it was.
    void adopt_storage(storage& s) noexcept {
        if (buffer_ || !s.bytes) return;
        buffer_ = std::move(s.bytes);
        capacity_ = std::exchange(s.capacity, 0);
        begin_ = end_ = 0;
    }

private:
    void make_room(std::size_t n);

    std::unique_ptr<char[]> buffer_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0; // first byte not yet handed out
    std::size_t end_ = 0;   // one past the last received byte
    std::size_t max_payload_;
    std::optional<error> broken_;
};

/// A packet_reader that parses what it frames. `Message` is command or reply.
template <class Message, result<Message> (*Parse)(packet)>
class basic_decoder {
public:
    explicit basic_decoder(std::size_t max_payload = default_max_payload) : reader_{max_payload} {}

    void set_max_payload(std::size_t n) noexcept { reader_.set_max_payload(n); }
    std::size_t max_payload() const noexcept { return reader_.max_payload(); }
    void feed(std::string_view bytes) { reader_.feed(bytes); }
    std::span<char> prepare(std::size_t n) { return reader_.prepare(n); }
    void commit(std::size_t n) noexcept { reader_.commit(n); }
    std::size_t buffered() const noexcept { return reader_.buffered(); }
    bool at_packet_boundary() const noexcept { return reader_.at_packet_boundary(); }
    void release_if_larger(std::size_t keep) noexcept { reader_.release_if_larger(keep); }
    std::size_t capacity() const noexcept { return reader_.capacity(); }
    using storage = packet_reader::storage;
    storage take_storage() noexcept { return reader_.take_storage(); }
    void adopt_storage(storage& s) noexcept { reader_.adopt_storage(s); }

    /// The next message; nullopt when more bytes are needed. A malformed packet yields its
    /// error and is consumed (framing stays intact); a framing error repeats forever.
    std::optional<result<Message>> next() {
        auto framed = reader_.next();
        if (!framed) return std::nullopt;
        if (!*framed) return result<Message>{framed->error()};
        return Parse(**framed);
    }

private:
    packet_reader reader_;
};

/// The filter side: decodes what the MTA sends.
using command_decoder = basic_decoder<command, parse_command>;
/// The MTA side: decodes what the filter sends.
using reply_decoder = basic_decoder<reply, parse_reply>;

} // namespace cppmilter::proto
