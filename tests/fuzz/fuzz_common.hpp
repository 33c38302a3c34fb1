// Helpers shared by the fuzz entry points: invariant checks, reading the input, and feeding a
// byte stream to a decoder in the chunk sizes the input selects.
#pragma once

#include <cppmilter/proto/decoder.hpp>
#include <cppmilter/proto/encoder.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cppmilter::fuzz {

/// A broken invariant is a bug just like a crash: say which one, then stop the process so that
/// libFuzzer (and the corpus replay) report the input.
inline void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    __builtin_trap();
}

/// Where the targets describe what an input did: a buffer, thrown away (printing is exercised
/// all the same), or with CPPMILTER_FUZZ_VERBOSE set, stderr, to read a reproducer step by step.
class log_sink {
public:
    std::ostream& stream() noexcept {
        static const bool verbose = std::getenv("CPPMILTER_FUZZ_VERBOSE") != nullptr;
        return verbose ? static_cast<std::ostream&>(std::cerr) : buffer_;
    }

private:
    std::ostringstream buffer_;
};

/// The fuzz input, read as a few selector bytes at the front, an optional segment at the back
/// and the byte stream in between. Reads past the end yield zeros, so every input is usable
/// and a short input means "all defaults".
class input {
public:
    input(const std::uint8_t* data, std::size_t size) noexcept
        : rest_{reinterpret_cast<const char*>(data), size} {}

    std::uint8_t byte() noexcept {
        if (rest_.empty()) return 0;
        const auto b = static_cast<std::uint8_t>(rest_.front());
        rest_.remove_prefix(1);
        return b;
    }
    /// The last `n` bytes (fewer if the input is shorter), removed from the input.
    std::string_view take_back(std::size_t n) noexcept {
        n = std::min(n, rest_.size());
        const auto tail = rest_.substr(rest_.size() - n);
        rest_.remove_suffix(n);
        return tail;
    }
    std::string_view rest() const noexcept { return rest_; }

private:
    std::string_view rest_;
};

/// Chunk sizes for one run, from a selector byte: bits 0-2 pick the pattern, bits 3-7 are its
/// parameter. The decoder must give the same messages for every split; each split walks other
/// paths of its buffer management (partial length prefix, partial payload, compaction, growth).
class splitter {
public:
    explicit splitter(unsigned selector) noexcept
        : mode_{selector & 7u}, param_{selector >> 3u}, random_{selector * 2654435761u + 1u} {}

    /// prepare()/commit() instead of feed(): how an Asio read fills the decoder.
    bool uses_prepare() const noexcept { return mode_ == 3 || mode_ == 6; }
    /// Room to ask prepare() for: more than arrives, as a socket read does.
    std::size_t prepare_size(std::size_t chunk) const noexcept {
        return mode_ == 6 ? std::max<std::size_t>(chunk, 4096) : chunk;
    }

    std::size_t next(std::size_t remaining) noexcept {
        std::size_t n = remaining;
        switch (mode_) {
        case 0: break;                                  // everything at once
        case 1: n = 1; break;                           // byte by byte
        case 2: case 3: n = param_ + 1; break;          // fixed size, 1..32
        case 4: {                                       // a cycle of odd sizes
            constexpr std::size_t sizes[] = {1, 2, 3, 5, 8, 13, 21, 4, 55, 89, 144, 7};
            n = sizes[(step_++ + param_) % std::size(sizes)];
            break;
        }
        case 5: n = 1 + draw() % (param_ * 16u + 16u); break; // random, up to 512
        case 6: n = 1 + draw() % 1500u; break;                 // random, TCP-segment-like
        default: {                                      // cuts inside the length prefix
            const std::size_t sizes[] = {3, 1, param_ + 1u, 7};
            n = sizes[step_++ % 4];
            break;
        }
        }
        return std::min(n, remaining);
    }

private:
    std::uint32_t draw() noexcept {
        random_ = random_ * 1103515245u + 12345u;
        return random_ >> 16;
    }

    unsigned mode_;
    unsigned param_;
    std::uint32_t random_;
    std::size_t step_ = 0;
};

/// Feeds `stream` to `decoder` in the chunks `selector` picks, calling `drain()` after each
/// chunk; stops early when drain() returns false (framing lost).
template <class Decoder, class Drain>
void feed_split(Decoder& decoder, std::string_view stream, std::uint8_t selector, Drain drain) {
    splitter split{selector};
    while (!stream.empty()) {
        const std::size_t n = split.next(stream.size());
        if (split.uses_prepare()) {
            const auto room = decoder.prepare(split.prepare_size(n));
            require(room.size() >= n, "prepare() gave less room than asked for");
            std::memcpy(room.data(), stream.data(), n);
            decoder.commit(n);
        } else {
            decoder.feed(stream.substr(0, n));
        }
        stream.remove_prefix(n);
        if (!drain()) return;
    }
}

/// Whether a decoder error loses the stream's framing for good (then decoding stops).
inline bool loses_framing(const proto::error& e) noexcept {
    return e.code == proto::errc::zero_length || e.code == proto::errc::packet_too_large;
}

/// What a decoder made of a stream, owned so that runs can be compared: each message as it
/// encodes again, each error as it prints, up to and including a framing error.
template <class Decoder>
std::vector<std::string> decode_all(std::string_view stream, std::size_t max_payload,
                                    std::optional<std::uint8_t> split) {
    Decoder decoder{max_payload};
    std::vector<std::string> out;
    auto drain = [&] {
        while (auto next = decoder.next()) {
            if (*next) {
                std::string wire = "message ";
                (void)proto::encode(wire, **next); // what does not encode is checked elsewhere
                out.push_back(std::move(wire));
                continue;
            }
            const proto::error e = next->error();
            std::ostringstream os;
            os << "error " << e;
            out.push_back(os.str());
            if (loses_framing(next->error())) return false;
        }
        return true;
    };
    if (split) {
        feed_split(decoder, stream, *split, drain);
    } else {
        decoder.feed(stream);
        drain();
    }
    out.push_back(decoder.buffered() == 0 ? "end" : "end inside a packet");
    return out;
}

/// The same stream decoded whole (one feed) and in two splits (the input's own, and a random
/// one it also selects) must give the same messages and errors in the same order: how bytes
/// arrive must never change what they mean.
template <class Decoder>
void check_split_matches_whole(std::string_view stream, std::size_t max_payload, std::uint8_t split) {
    const auto whole = decode_all<Decoder>(stream, max_payload, std::nullopt);
    // Mode 5 (random sizes), its range and seed from the input.
    const auto random_split = static_cast<std::uint8_t>(((split + stream.size()) << 3) | 5u);
    for (const std::uint8_t selector : {split, random_split}) {
        const auto parts = decode_all<Decoder>(stream, max_payload, selector);
        if (parts == whole) continue;
        // Where they part, readably, before stopping.
        std::size_t i = 0;
        while (i < parts.size() && i < whole.size() && parts[i] == whole[i]) ++i;
        auto printable = [](const std::vector<std::string>& v, std::size_t at) {
            if (at >= v.size()) return std::string{"(nothing)"};
            std::string out;
            for (unsigned char c : v[at].substr(0, 200))
                out += (c >= 0x20 && c < 0x7f) ? std::string(1, static_cast<char>(c)) : "\\x" + std::to_string(c);
            return out;
        };
        std::fprintf(stderr, "split %u, outcome %zu:\n  whole: %s\n  split: %s\n", selector, i,
                     printable(whole, i).c_str(), printable(parts, i).c_str());
        require(false, selector == split ? "the input's split decodes differently from the whole stream"
                                         : "a random split decodes differently from the whole stream");
    }
}

/// A decoded message (command or reply) must survive encode → decode unchanged; `Chunked`
/// (BODY, REPLBODY) may come back split in 65535-byte packets. Returns the encoded bytes.
template <class Decoder, class Chunked, class Message>
std::string check_roundtrip(const Message& m) {
    std::string wire;
    require(proto::encode(wire, m).has_value(), "a decoded message does not encode");
    Decoder again;
    again.feed(wire);
    const auto* chunked = std::get_if<Chunked>(&m);
    std::string chunks;
    std::size_t packets = 0;
    while (auto r = again.next()) {
        require(r->has_value(), "a re-encoded message does not decode");
        ++packets;
        if (chunked) {
            const auto* c = std::get_if<Chunked>(&r->value());
            require(c != nullptr, "a re-encoded BODY/REPLBODY decodes as something else");
            chunks += c->chunk;
        } else {
            require(r->value() == m, "a re-encoded message decodes differently");
        }
    }
    require(again.at_packet_boundary(), "a re-encoded message ends inside a packet");
    if (chunked) {
        require(chunks == chunked->chunk, "a re-encoded BODY/REPLBODY decodes to other bytes");
        const std::size_t expected =
            chunked->chunk.empty() ? 1 : (chunked->chunk.size() + proto::max_body_chunk - 1) / proto::max_body_chunk;
        require(packets == expected, "a re-encoded BODY/REPLBODY has an unexpected number of packets");
    } else {
        require(packets == 1, "a re-encoded message is not one packet");
    }
    return wire;
}

} // namespace cppmilter::fuzz
