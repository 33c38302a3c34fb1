// Fuzz target, filter → MTA: arbitrary bytes through reply_decoder, the way an MTA-side client
// built on cppmilter receives a filter's answers, plus format_smtp_reply / validate_smtp_reply
// on fuzzed text. Besides "no crash, no UB, no leak", it checks:
//  - every decoded reply encodes again and decodes back to an equal reply (REPLBODY may come
//    back split into several packets);
//  - a framing error repeats; the stream decodes to the same replies and errors whole and in
//    two splits;
//  - what format_smtp_reply() builds passes validate_smtp_reply(), and any validated text
//    survives encode → decode as a REPLYCODE.
//
// Input layout (missing bytes read as 0):
//   [0]  split selector (fuzz_common.hpp)
//   [1]  bits 0-1: max payload 70000, 65535, 1 MiB or 300 bytes
//   [2]  N, the length of the SMTP text segment
//   ...  the filter's byte stream
//   last N bytes: [code hi][code lo][k][k bytes: enhanced code][text], for format_smtp_reply();
//        the code is 400 + (code % 200) unless bit 7 of the high byte asks for any number
#include "fuzz_common.hpp"

#include <cppmilter/proto.hpp>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>

namespace proto = cppmilter::proto;
using cppmilter::fuzz::require;

namespace {

constexpr std::size_t max_payloads[4] = {70000, proto::max_payload_64k, proto::max_payload_1m, 300};

/// A decoded reply must survive encode → decode unchanged (REPLBODY may come back split).
void check_roundtrip(const proto::reply& r) {
    cppmilter::fuzz::check_roundtrip<proto::reply_decoder, proto::replace_body>(r);
}

void on_reply(const proto::reply& r, std::ostream& log) {
    const auto kind = proto::kind_of(r);
    log << "< " << r << (proto::is_verdict(kind) ? " verdict" : "")
        << (proto::is_modification(kind) ? " needs " + to_string(proto::required_action(kind)) : "") << '\n';
    check_roundtrip(r);
}

void exercise_smtp_text(std::string_view segment, std::ostream& log) {
    cppmilter::fuzz::input in{reinterpret_cast<const std::uint8_t*>(segment.data()), segment.size()};
    const unsigned hi = in.byte(), lo = in.byte();
    const std::size_t k = in.byte();
    const auto rest = in.rest();
    const auto enhanced = rest.substr(0, k);
    const auto text = rest.substr(std::min(k, rest.size()));
    // Mostly 4xx/5xx, so that the text rules get exercised rather than the code check.
    const unsigned code = (hi & 0x80u) ? ((hi << 8) | lo) & 0x7fffu : 400 + ((hi << 8) | lo) % 200;

    if (const auto formatted = proto::format_smtp_reply(code, enhanced, text)) {
        log << "formatted " << proto::reply{proto::smtp_reply{*formatted}} << '\n';
        const auto valid = proto::validate_smtp_reply(*formatted);
        if (!valid) log << "  but: " << valid.error() << '\n';
        require(valid.has_value(), "format_smtp_reply() built text that validate_smtp_reply() refuses");
        check_roundtrip(proto::smtp_reply{*formatted});
    } else {
        log << "format refused: " << formatted.error() << '\n';
    }
    // The same bytes taken as finished wire text: whatever validates must go on the wire.
    for (auto wire_text : {text, segment}) {
        if (const auto valid = proto::validate_smtp_reply(wire_text); valid)
            check_roundtrip(proto::smtp_reply{wire_text});
        else
            log << "invalid: " << valid.error() << '\n';
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    cppmilter::fuzz::input in{data, size};
    const std::uint8_t split = in.byte();
    const std::size_t max_payload = max_payloads[in.byte() & 3u];
    const std::string_view smtp_segment = in.take_back(in.byte());
    const std::string_view stream = in.rest();

    cppmilter::fuzz::log_sink sink;
    std::ostream& log = sink.stream();
    proto::reply_decoder decoder{max_payload};
    cppmilter::fuzz::feed_split(decoder, stream, split, [&] {
        while (auto next = decoder.next()) {
            if (*next) {
                on_reply(**next, log);
                continue;
            }
            const proto::error e = next->error();
            log << "bad packet: " << e << '\n';
            if (e.code != proto::errc::zero_length && e.code != proto::errc::packet_too_large)
                continue; // a malformed packet is consumed; the framing holds
            const auto again = decoder.next();
            require(again && !*again && again->error() == e, "a framing error does not repeat");
            return false; // the stream cannot be read any further
        }
        return true;
    });
    cppmilter::fuzz::check_split_matches_whole<proto::reply_decoder>(stream, max_payload, split);
    exercise_smtp_text(smtp_segment, log);
    return 0;
}
