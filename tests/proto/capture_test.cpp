// Replays the real Postfix 3.7 sessions of tests/data/captures through the protocol core.
#include "support/capture.hpp"

#include "support/result.hpp"

#include <cppmilter/proto.hpp>

#include <boost/test/unit_test.hpp>

#include <sstream>

namespace proto = cppmilter::proto;
using cppmilter::test::why;
using cppmilter::test::capture;
using cppmilter::test::to_hex;

namespace {

template <class T>
std::string print(const T& v) {
    std::ostringstream os;
    os << v;
    return os.str();
}

/// The filter of each capture asked for what its OPTNEG reply says; ask for the same. The
/// request's macro lists are views into `d`, which must outlive it.
proto::negotiation_request request_of(const capture& c, proto::reply_decoder& d) {
    const auto& first_reply = *std::find_if(c.packets.begin(), c.packets.end(), [](auto& p) { return !p.from_mta; });
    d.feed(first_reply.bytes);
    auto r = d.next();
    BOOST_TEST_REQUIRE((r && *r));
    const auto& o = std::get<proto::optneg_reply>(r->value());
    return {o.actions, o.protocol, o.macros};
}

} // namespace

BOOST_AUTO_TEST_SUITE(captures)

// Each direction decodes completely and re-encodes to the recorded bytes.
BOOST_AUTO_TEST_CASE(every_packet_round_trips) {
    for (const auto& c : cppmilter::test::all_captures()) {
        BOOST_TEST_CONTEXT(c.name) {
            for (const auto& p : c.packets) {
                std::string again;
                if (p.from_mta) {
                    proto::command_decoder d;
                    d.feed(p.bytes);
                    auto r = d.next();
                    BOOST_TEST_REQUIRE((r && *r), to_hex(p.bytes));
                    BOOST_TEST_REQUIRE(proto::encode(again, r->value()).has_value());
                } else {
                    proto::reply_decoder d;
                    d.feed(p.bytes);
                    auto r = d.next();
                    BOOST_TEST_REQUIRE((r && *r), to_hex(p.bytes));
                    BOOST_TEST_REQUIRE(proto::encode(again, r->value()).has_value());
                }
                BOOST_TEST(to_hex(again) == to_hex(p.bytes));
            }
        }
    }
}

// The session, negotiating what libmilter negotiated and answering what it answered, accepts
// every command Postfix sent and writes exactly the bytes libmilter wrote, in the same places.
BOOST_AUTO_TEST_CASE(session_answers_like_libmilter) {
    for (const auto& c : cppmilter::test::all_captures()) {
        BOOST_TEST_CONTEXT(c.name) {
            proto::reply_decoder optneg_reply;
            proto::filter_session session{request_of(c, optneg_reply)};
            std::size_t i = 0;
            std::size_t messages = 0;
            bool closed = false;
            while (i < c.packets.size()) {
                const auto& p = c.packets[i++];
                BOOST_TEST_REQUIRE(p.from_mta, "filter spoke first at packet " << i);
                proto::command_decoder d;
                d.feed(p.bytes);
                auto cmd = d.next();
                BOOST_TEST_REQUIRE((cmd && *cmd));
                // What libmilter answered to this command.
                std::string recorded;
                std::vector<std::string> recorded_packets;
                while (i < c.packets.size() && !c.packets[i].from_mta) {
                    recorded += c.packets[i].bytes;
                    recorded_packets.push_back(c.packets[i++].bytes);
                }
                std::string out;
                auto ev = session.on_command(cmd->value(), out);
                BOOST_TEST_REQUIRE(ev.has_value(), print(cmd->value()) << ": " << why(ev));
                if (ev->step == proto::session_step::call_hook) {
                    if (recorded_packets.empty()) {
                        BOOST_TEST(!ev->expects_answer, print(cmd->value()));
                        BOOST_TEST_REQUIRE(session.answer(proto::continue_{}, out).has_value());
                    }
                    for (const auto& bytes : recorded_packets) {
                        proto::reply_decoder rd;
                        rd.feed(bytes);
                        auto r = rd.next();
                        BOOST_TEST_REQUIRE((r && *r));
                        auto ok = session.answer(r->value(), out);
                        BOOST_TEST_REQUIRE(ok.has_value(), print(r->value()) << ": " << why(ok));
                    }
                    if (proto::kind_of(cmd->value()) == proto::command_kind::end_of_body) {
                        ++messages;
                        BOOST_TEST(session.macros().find("i").has_value(), "queue id at end of message");
                    }
                }
                BOOST_TEST(to_hex(out) == to_hex(recorded), print(cmd->value()));
                if (ev->step == proto::session_step::close) closed = true;
            }
            BOOST_TEST(closed, "the session ended with QUIT");
            BOOST_TEST((session.phase() == proto::session_phase::closed));
            const bool expect_message = c.name.find("04-quit") == std::string::npos;
            BOOST_TEST((messages > 0) == expect_message);
        }
    }
}

// The same traffic in one stream, cut into TCP-like reads of many sizes.
BOOST_AUTO_TEST_CASE(streams_decode_in_any_read_size) {
    for (const auto& c : cppmilter::test::all_captures()) {
        const std::string stream = c.stream(true);
        std::size_t expected = 0;
        for (const auto& p : c.packets) expected += p.from_mta;
        for (std::size_t read : {1u, 2u, 3u, 5u, 64u, 1000u, 4096u, 65536u}) {
            proto::command_decoder d;
            std::size_t n = 0;
            for (std::size_t at = 0; at < stream.size(); at += read) {
                d.feed(std::string_view{stream}.substr(at, read));
                while (auto r = d.next()) {
                    if (!r->has_value()) BOOST_FAIL(c.name << " read " << read << ": " << r->error());
                    ++n;
                }
            }
            BOOST_TEST(n == expected, c.name << " read " << read);
        }
    }
}

BOOST_AUTO_TEST_CASE(postfix_habits_are_visible) {
    // Specific facts from captures/README.md, checked through the typed commands.
    auto find = [](std::string_view name) {
        for (auto& c : cppmilter::test::all_captures())
            if (c.name == name) return c;
        throw std::runtime_error("no capture " + std::string{name});
    };
    auto commands_of = [](const capture& c) {
        std::vector<std::string> printed;
        for (const auto& p : c.packets) {
            if (!p.from_mta) continue;
            proto::command_decoder d;
            d.feed(p.bytes);
            printed.push_back(print(d.next()->value()));
        }
        return printed;
    };
    const auto folded = commands_of(find("plain/03-helo_unknown_folded_8bit_large"));
    auto has = [](const std::vector<std::string>& v, std::string_view s) {
        return std::any_of(v.begin(), v.end(), [&](auto& x) { return x.find(s) != std::string::npos; });
    };
    BOOST_TEST(has(folded, "UNKNOWN command=\"XFOO\""));
    BOOST_TEST(has(folded, "first part\\n\\tsecond part\\n  third part"));
    BOOST_TEST(has(folded, "BODY 65535 bytes"));
    const auto v6 = commands_of(find("plain/08-ipv6_client"));
    BOOST_TEST(has(v6, "CONNECT hostname=\"[::1]\" family=inet6"));
    const auto null_sender = commands_of(find("plain/07-headers_only"));
    BOOST_TEST(has(null_sender, "MAIL address=\"<>\""));
    BOOST_TEST(!has(null_sender, "BODY "));
    const auto leadspc = commands_of(find("nr/01-plain"));
    BOOST_TEST(has(leadspc, "HEADER name=\"Subject\" value=\" plain\""));
}

BOOST_AUTO_TEST_SUITE_END()
