// Every kind of bad input yields a typed error naming the command and the field, and only
// that packet is lost: the decoder goes on with the next one (framing errors excepted).
#include "support/hex.hpp"
#include "support/malformed_packets.hpp"

#include <cppmilter/proto.hpp>

#include <boost/test/unit_test.hpp>

namespace proto = cppmilter::proto;
using cppmilter::test::bad_packet;
using cppmilter::test::bad_commands;
using cppmilter::test::bad_replies;
using cppmilter::test::from_hex;
using proto::errc;

namespace {

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

    proto::command_decoder split; // the letter in the next read: the same error, naming it
    split.feed(from_hex("00100001"));
    BOOST_TEST(!split.next().has_value());
    split.feed(from_hex("42"));
    auto late = split.next();
    BOOST_TEST_REQUIRE((late && !*late));
    BOOST_TEST(late->error().message() == "BODY: packet larger than the maximum payload (field 'length')");

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
