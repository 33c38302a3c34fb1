// Every kind of bad input yields a typed error naming the command and the field, and only
// that packet is lost: the decoder goes on with the next one (framing errors excepted).
#include "support/hex.hpp"

#include <cppmilter/proto.hpp>

#include <boost/test/unit_test.hpp>

namespace proto = cppmilter::proto;
using cppmilter::test::from_hex;
using proto::errc;

namespace {

struct bad_packet {
    const char* what;
    const char* hex;
    errc code;
    char letter;
    const char* field;
};

// MTA → filter.
const bad_packet bad_commands[] = {
    {"unknown command letter", "0000000158", errc::unknown_command, 'X', ""},
    {"OPTNEG too short", "000000054f00000006", errc::truncated, 'O', "actions"},
    {"OPTNEG without protocol word", "000000094f00000006000001ff", errc::truncated, 'O', "protocol"},
    {"OPTNEG version 1", "0000000d4f00000001000001ff001fffff", errc::unsupported_version, 'O', "version"},
    {"OPTNEG version 0", "0000000d4f00000000000001ff001fffff", errc::unsupported_version, 'O', "version"},
    {"MACRO without stage", "0000000144", errc::truncated, 'D', "stage"},
    {"MACRO name without NUL", "00000003444361", errc::missing_nul, 'D', "name"},
    {"MACRO name without value", "0000000444436100", errc::truncated, 'D', "value"},
    {"MACRO value without NUL", "0000000544436100 62", errc::missing_nul, 'D', "value"},
    {"CONNECT hostname without NUL", "0000000443616263", errc::missing_nul, 'C', "hostname"},
    {"CONNECT empty", "0000000143", errc::truncated, 'C', "hostname"},
    {"CONNECT without family", "00000003436100", errc::truncated, 'C', "family"},
    {"CONNECT unknown family", "000000084361005800193100", errc::unknown_address_family, 'C', "family"},
    {"CONNECT truncated port", "0000000543610034 01", errc::truncated, 'C', "port"},
    {"CONNECT address without NUL", "00000008436100340019 3132", errc::missing_nul, 'C', "address"},
    {"CONNECT without address", "00000006436100340019", errc::truncated, 'C', "address"},
    {"CONNECT bytes after family U", "000000054361005578", errc::unexpected_payload, 'C', "address"},
    {"CONNECT bytes after address", "000000094361003400193100 78", errc::unexpected_payload, 'C', "address"},
    {"HELO empty payload", "0000000148", errc::truncated, 'H', "helo name"},
    {"HELO without NUL", "000000034861 62", errc::missing_nul, 'H', "helo name"},
    {"HELO with trailing bytes", "00000004486100 62", errc::unexpected_payload, 'H', "helo name"},
    {"MAIL empty payload", "000000014d", errc::truncated, 'M', "address"},
    {"MAIL address without NUL", "000000034d3c3e", errc::missing_nul, 'M', "address"},
    {"MAIL argument without NUL", "000000074d3c3e0053495a", errc::missing_nul, 'M', "esmtp argument"},
    {"RCPT empty payload", "0000000152", errc::truncated, 'R', "address"},
    {"RCPT address without NUL", "00000003523c3e", errc::missing_nul, 'R', "address"},
    {"HEADER empty payload", "000000014c", errc::truncated, 'L', "name"},
    {"HEADER name without NUL", "000000024c41", errc::missing_nul, 'L', "name"},
    {"HEADER without value", "000000034c4100", errc::truncated, 'L', "value"},
    {"HEADER value without NUL", "000000044c410062", errc::missing_nul, 'L', "value"},
    {"HEADER with trailing bytes", "000000064c4100620063", errc::unexpected_payload, 'L', "value"},
    {"EOH with payload", "000000024e00", errc::unexpected_payload, 'N', "payload"},
    {"DATA with payload", "000000025478", errc::unexpected_payload, 'T', "payload"},
    {"ABORT with payload", "000000024100", errc::unexpected_payload, 'A', "payload"},
    {"QUIT with payload", "000000025100", errc::unexpected_payload, 'Q', "payload"},
    {"QUIT_NC with payload", "000000024b00", errc::unexpected_payload, 'K', "payload"},
    {"UNKNOWN without NUL", "000000035558 46", errc::missing_nul, 'U', "command"},
    {"UNKNOWN empty payload", "0000000155", errc::truncated, 'U', "command"},
};

// Filter → MTA.
const bad_packet bad_replies[] = {
    {"unknown reply letter", "000000015a", errc::unknown_reply, 'Z', ""},
    {"CONN_FAIL", "0000000166", errc::unknown_reply, 'f', "CONN_FAIL is accepted by no MTA"},
    {"SETSYMLIST as a packet", "000000016c", errc::unknown_reply, 'l', "SETSYMLIST is never sent as a packet"},
    {"CONTINUE with payload", "000000026300", errc::unexpected_payload, 'c', "payload"},
    {"PROGRESS with payload", "000000027078", errc::unexpected_payload, 'p', "payload"},
    {"OPTNEG reply too short", "000000094f0000000600000001", errc::truncated, 'O', "protocol"},
    {"OPTNEG reply version 1", "0000000d4f000000010000000100000000", errc::unsupported_version, 'O', "version"},
    {"OPTNEG reply macro stage 7", "000000134f000000060000000100000000 00000007 6900", errc::unexpected_payload, 'O', "macro stage"},
    {"OPTNEG reply macro list without NUL", "000000124f000000060000000100000000 00000000 6a", errc::missing_nul, 'O', "macro list"},
    {"OPTNEG reply truncated macro stage", "0000000f4f000000060000000100000000 0000", errc::truncated, 'O', "macro stage"},
    {"REPLYCODE without NUL", "00000004793535 30", errc::missing_nul, 'y', "text"},
    {"REPLYCODE with two NULs", "0000000679353530 0000", errc::unexpected_payload, 'y', "text"},
    {"REPLYCODE 250", "00000008 79 323530 20 6f6b 00", errc::invalid_reply_text, 'y', "code must be 4xx or 5xx"},
    {"REPLYCODE lone percent", "0000000879353530 20 25 7800", errc::invalid_reply_text, 'y', "a lone '%' (write '%%')"},
    {"ADDHEADER without value", "000000036841 00", errc::truncated, 'h', "value"},
    {"ADDHEADER empty name", "00000003 68 00 00", errc::empty_field, 'h', "name"},
    {"INSHEADER truncated index", "000000036900 00", errc::truncated, 'i', "index"},
    {"CHGHEADER without name", "000000056d00000001", errc::truncated, 'm', "name"},
    {"CHGFROM empty payload", "0000000165", errc::truncated, 'e', "address"},
    {"CHGFROM empty sender", "000000026500", errc::empty_field, 'e', "address"},
    {"CHGFROM arguments without NUL", "0000000565 3c3e00 52", errc::missing_nul, 'e', "esmtp arguments"},
    {"ADDRCPT with trailing bytes", "00000005 2b 3c3e00 78", errc::unexpected_payload, '+', "address"},
    {"DELRCPT without NUL", "00000003 2d 3c3e", errc::missing_nul, '-', "address"},
    {"QUARANTINE empty reason", "000000027100", errc::empty_field, 'q', "reason"},
    {"QUARANTINE without NUL", "000000037168 6f", errc::missing_nul, 'q', "reason"},
};

template <class Decoder, std::size_t N>
void check(const bad_packet (&table)[N], std::string_view good_hex) {
    for (const auto& t : table) {
        BOOST_TEST_CONTEXT(t.what) {
            Decoder d;
            d.feed(from_hex(t.hex));
            d.feed(from_hex(good_hex));
            auto r = d.next();
            BOOST_TEST_REQUIRE(r.has_value(), "no packet decoded");
            BOOST_TEST_REQUIRE(!r->has_value(), "decoded although malformed");
            const auto& e = r->error();
            BOOST_TEST((e.code == t.code), e.message());
            BOOST_TEST(e.command == t.letter, e.message());
            BOOST_TEST(e.field == t.field, e.message());
            BOOST_TEST(!e.message().empty());
            // Only the bad packet is lost: the next one decodes.
            auto next = d.next();
            BOOST_TEST_REQUIRE((next && *next), "the packet after the bad one was lost");
            BOOST_TEST(!d.next().has_value());
        }
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(malformed)

BOOST_AUTO_TEST_CASE(bad_commands_give_typed_errors) {
    check<proto::command_decoder>(bad_commands, "000000034861 00");
}

BOOST_AUTO_TEST_CASE(bad_replies_give_typed_errors) { check<proto::reply_decoder>(bad_replies, "0000000163"); }

BOOST_AUTO_TEST_CASE(zero_length_breaks_framing_for_good) {
    proto::packet_reader r;
    r.feed(from_hex("00000000 0000000163"));
    auto first = r.next();
    BOOST_TEST_REQUIRE((first && !*first));
    BOOST_TEST((first->error().code == errc::zero_length));
    BOOST_TEST(first->error().field == "length");
    auto again = r.next(); // the stream cannot be resynchronised: the error sticks
    BOOST_TEST_REQUIRE((again && !*again));
    BOOST_TEST((again->error().code == errc::zero_length));
}

BOOST_AUTO_TEST_CASE(oversized_length_is_refused_before_the_payload_arrives) {
    proto::command_decoder d; // default limit: 1 MiB − 1 payload bytes
    d.feed(from_hex("00100001 42")); // 1 MiB payload announced, nothing of it sent
    auto r = d.next();
    BOOST_TEST_REQUIRE((r && !*r));
    BOOST_TEST((r->error().code == errc::packet_too_large));
    BOOST_TEST(r->error().command == 'B');
    BOOST_TEST(r->error().message() == "BODY: packet larger than the maximum payload (field 'length')");

    proto::command_decoder exact;
    exact.feed(from_hex("00100000 42")); // exactly at the limit: waits for the payload
    BOOST_TEST(!exact.next().has_value());

    proto::command_decoder small{proto::max_payload_64k};
    small.feed(from_hex("00010001 4c"));
    auto s = small.next();
    BOOST_TEST_REQUIRE((s && !*s));
    BOOST_TEST((s->error().code == errc::packet_too_large));

    proto::reply_decoder replies{16};
    replies.feed(from_hex("00000012 79"));
    auto rr = replies.next();
    BOOST_TEST_REQUIRE((rr && !*rr));
    BOOST_TEST((rr->error().code == errc::packet_too_large));
}

BOOST_AUTO_TEST_CASE(a_partial_packet_only_waits) {
    proto::command_decoder d;
    d.feed(from_hex("000000"));
    BOOST_TEST(!d.next().has_value());
    d.feed(from_hex("03 48 61"));
    BOOST_TEST(!d.next().has_value());
    BOOST_TEST(!d.at_packet_boundary());
    d.feed(from_hex("00"));
    auto r = d.next();
    BOOST_TEST_REQUIRE((r && *r));
    BOOST_TEST(d.at_packet_boundary());
}

BOOST_AUTO_TEST_SUITE_END()
