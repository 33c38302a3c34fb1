// State scopes across messages and connections, and composition of several milters.
#include "sender_block.hpp"
#include "tagger.hpp"

#include <cppmilter/cppmilter.hpp>
#include <cppmilter/testing/harness.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

namespace cm = cppmilter;
namespace proto = cppmilter::proto;

namespace {

struct trace {
    std::vector<std::string>* log = nullptr; // where hooks write what they see
};

struct conn_state {
    int connects = 0;
    int messages = 0;
};
struct msg_state {
    std::string from;
    std::vector<std::string> rcpts;
};

std::vector<std::string> events;

// Records every hook call with the state it saw, and answers at end of message with it.
inline constexpr auto recorder = cm::milter<cm::connection_scoped<conn_state>, cm::message_scoped<msg_state>>(
    cm::on_connect([](const cm::connect_info& c, auto& ctx) {
        ++ctx.connection().connects;
        events.push_back("connect " + std::string{c.hostname});
    }),
    cm::on_mail_from([](const cm::mail_from& m, auto& ctx) {
        events.push_back("mail " + std::string{m.address} + " saw from='" + ctx.message().from + "' rcpts=" +
                         std::to_string(ctx.message().rcpts.size()));
        ctx.message().from = m.address;
        ++ctx.connection().messages;
    }),
    cm::on_rcpt([](const cm::rcpt& r, auto& ctx) { ctx.message().rcpts.emplace_back(r.address); }),
    cm::on_end_of_message([](const cm::end_of_message&, auto& ctx) -> cm::eom<cm::add_header> {
        return cm::add_header{"X-Seen", ctx.message().from + " " + std::to_string(ctx.message().rcpts.size()) +
                                            " #" + std::to_string(ctx.connection().messages) + " c" +
                                            std::to_string(ctx.connection().connects)};
    }),
    cm::on_abort([](auto& ctx) { events.push_back("abort from='" + ctx.message().from + "'"); }),
    cm::on_close([](auto& ctx) { events.push_back("close messages=" + std::to_string(ctx.connection().messages)); }));

inline constexpr auto skipper = cm::milter<cm::message_scoped<int>>(
    cm::on_body([](const cm::body_chunk&, auto& ctx) -> cm::body_verdict {
        events.push_back("body chunk " + std::to_string(++ctx.message()));
        return cm::skip;
    }));

} // namespace

BOOST_AUTO_TEST_SUITE(state)

BOOST_AUTO_TEST_CASE(message_state_is_fresh_for_every_message) {
    events.clear();
    cm::testing::harness h{recorder};
    h.connect("one.example");
    BOOST_TEST(h.message("<a@x>", {"<r1@x>", "<r2@x>"}, {}, "") == "ADDHEADER name=\"X-Seen\" value=\"<a@x> 2 #1 c1\"; CONTINUE");
    BOOST_TEST(h.message("<b@x>", {"<r3@x>"}, {}, "") == "ADDHEADER name=\"X-Seen\" value=\"<b@x> 1 #2 c1\"; CONTINUE");
    // A transaction abandoned with RSET (ABORT) leaves nothing behind.
    h.mail_from("<c@x>");
    h.rcpt("<r4@x>");
    h.abort();
    BOOST_TEST(h.message("<d@x>", {"<r5@x>"}, {}, "") == "ADDHEADER name=\"X-Seen\" value=\"<d@x> 1 #4 c1\"; CONTINUE");
    // A second MAIL without ABORT (Sendmail style) starts over too.
    h.mail_from("<e@x>");
    h.rcpt("<r6@x>");
    h.mail_from("<f@x>");
    h.rcpt("<r7@x>");
    h.data();
    h.end_of_headers();
    BOOST_TEST(h.end_of_message() == "ADDHEADER name=\"X-Seen\" value=\"<f@x> 1 #6 c1\"; CONTINUE");
    h.quit();
    const std::vector<std::string> expected{
        "connect one.example",
        "mail <a@x> saw from='' rcpts=0",
        "mail <b@x> saw from='' rcpts=0",
        "mail <c@x> saw from='' rcpts=0",
        "abort from='<c@x>'",
        "mail <d@x> saw from='' rcpts=0",
        "mail <e@x> saw from='' rcpts=0",
        "abort from='<e@x>'",
        "mail <f@x> saw from='' rcpts=0",
        "close messages=6",
    };
    BOOST_TEST(events == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(connection_state_lives_until_the_connection_ends) {
    events.clear();
    cm::testing::harness h{recorder};
    h.connect("one.example");
    h.message("<a@x>", {"<r@x>"}, {}, "");
    h.quit_new_connection(); // same socket, new SMTP session: fresh connection state
    h.connect("two.example");
    BOOST_TEST(h.message("<b@x>", {"<r@x>"}, {}, "") == "ADDHEADER name=\"X-Seen\" value=\"<b@x> 1 #1 c1\"; CONTINUE");
    h.mail_from("<c@x>");
    h.disconnect(); // EOF mid-message: abort, then close
    const std::vector<std::string> tail(events.end() - 3, events.end());
    BOOST_TEST(tail == (std::vector<std::string>{"mail <c@x> saw from='' rcpts=0", "abort from='<c@x>'", "close messages=2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(skip_stops_the_body) {
    events.clear();
    cm::testing::harness h{skipper};
    h.connect();
    h.mail_from("<a@x>");
    h.rcpt("<b@x>");
    h.data();
    h.end_of_headers();
    BOOST_TEST(h.body("chunk one") == "SKIP");
    h.end_of_message();
    h.abort();
    // An MTA without SKIP gets CONTINUE, and the hook is not asked again for that message.
    cm::testing::harness old{skipper, proto::optneg{6, proto::all_actions, proto::all_protocol - proto::protocol::skip}};
    old.mail_from("<a@x>");
    BOOST_TEST(old.body("1") == "CONTINUE");
    BOOST_TEST(old.body("2") == "CONTINUE");
    old.end_of_message();
    old.abort();
    old.mail_from("<b@x>");
    old.body("3");
    BOOST_TEST(events == (std::vector<std::string>{"body chunk 1", "body chunk 1", "body chunk 1"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(composition)

inline constexpr auto combined = cm::pipeline(examples::sender_block, examples::tagger, recorder);
using combined_t = decltype(combined);

// The union of the parts' needs.
static_assert(combined_t::negotiation.actions == (proto::action::add_headers | proto::action::quarantine));
static_assert(!combined_t::negotiation.protocol.has(proto::protocol::no_mail));
static_assert(!combined_t::negotiation.protocol.has(proto::protocol::no_reply_mail)); // sender_block answers
static_assert(combined_t::negotiation.protocol.has(proto::protocol::no_reply_rcpt));  // all rcpt hooks are void
static_assert(!combined_t::negotiation.protocol.has(proto::protocol::no_connect));    // recorder has one

BOOST_AUTO_TEST_CASE(first_verdict_wins_and_modifications_concatenate) {
    events.clear();
    cm::testing::harness h{combined};
    BOOST_TEST(h.connect("c.example") == "(no answer)");
    // sender_block decides first: later parts never see this MAIL.
    BOOST_TEST(h.mail_from("<x@blocked.example>") == "REPLYCODE text=\"550 5.7.1 sender blocked\"");
    h.abort();
    BOOST_TEST(events == (std::vector<std::string>{"connect c.example", "abort from=''"}), boost::test_tools::per_element());
    h.mail_from("<a@x>");
    h.rcpt("<r@x>");
    h.header("Subject", "hi");
    h.end_of_headers();
    h.macros('E', {{"i", "Q2"}}); // as Postfix: the end-of-message macros right before it
    BOOST_TEST(h.end_of_message() ==
               "ADDHEADER name=\"X-Recipients\" value=\"1\"; ADDHEADER name=\"X-Message-Number\" value=\"1\"; "
               "ADDHEADER name=\"X-Queue-Id\" value=\"Q2\"; ADDHEADER name=\"X-Seen\" value=\"<a@x> 1 #1 c1\"; CONTINUE");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(state)

namespace {
inline constexpr auto thrower = cm::milter<cm::message_scoped<int>>(
    cm::on_mail_from([](const cm::mail_from& m, auto& ctx) -> cm::verdict {
        ctx.message() = m.address == "<late-boom@x>" ? 8 : 7;
        if (m.address == "<boom@x>") throw std::runtime_error("database unreachable");
        return cm::next;
    }),
    cm::on_end_of_message([](const cm::end_of_message&, auto& ctx) -> cm::eom<cm::add_header> {
        if (ctx.message() == 8) throw std::runtime_error("scanner crashed");
        return cm::add_header{"X-State", std::to_string(ctx.message())};
    }));

struct header_tally {
    int headers = 0;
    bool crash = false;
};
/// Without a MAIL hook MAIL is switched off (the MTA does not send it), so MAIL's reset never
/// runs: only the reset after end of message (or ABORT) forgets a message's tally.
inline constexpr auto tallier = cm::milter<cm::message_scoped<header_tally>>(
    cm::on_header([](const cm::header& h, auto& ctx) {
        ++ctx.message().headers;
        if (h.name == "X-Crash") ctx.message().crash = true;
    }),
    cm::on_end_of_message([](const cm::end_of_message&, auto& ctx) -> cm::eom<cm::add_header> {
        if (ctx.message().crash) throw std::runtime_error("scanner crashed");
        return cm::add_header{"X-Headers", std::to_string(ctx.message().headers)};
    }));
static_assert(std::remove_cvref_t<decltype(tallier)>::negotiation.protocol.has(proto::protocol::no_mail));
} // namespace

BOOST_AUTO_TEST_CASE(a_hook_that_throws_gets_the_fallback_and_the_connection_goes_on) {
    cm::testing::harness h{thrower};
    BOOST_TEST(h.mail_from("<boom@x>") == "TEMPFAIL");
    BOOST_TEST((h.milter_connection().session().phase() == proto::session_phase::in_message));
    h.abort();
    BOOST_TEST(h.mail_from("<ok@x>") == "CONTINUE");
    BOOST_TEST(h.end_of_message() == "ADDHEADER name=\"X-State\" value=\"7\"; CONTINUE");
    h.abort();
    h.mail_from("<late-boom@x>");
    BOOST_TEST(h.end_of_message() == "TEMPFAIL");
    h.abort();
    h.mail_from("<ok@x>");
    BOOST_TEST(h.end_of_message() == "ADDHEADER name=\"X-State\" value=\"7\"; CONTINUE");
}

BOOST_AUTO_TEST_CASE(a_throwing_end_of_message_resets_the_message_state) {
    // As Postfix with MAIL switched off: ABORT after each message, then the next message's
    // first command. An ABORT after end of message aborts no open message, so it resets
    // nothing: the reset that comes with the fallback answer is the only one that can forget
    // the first message's tally.
    cm::testing::harness h{tallier};
    h.header("Subject", "one");
    h.header("X-Crash", "yes");
    BOOST_TEST(h.end_of_message() == "TEMPFAIL");
    h.abort();
    h.header("Subject", "two");
    BOOST_TEST(h.end_of_message() == "ADDHEADER name=\"X-Headers\" value=\"1\"; CONTINUE");
    h.abort();
    h.header("Subject", "three");
    h.header("Cc", "x");
    BOOST_TEST(h.end_of_message() == "ADDHEADER name=\"X-Headers\" value=\"2\"; CONTINUE");
}

BOOST_AUTO_TEST_SUITE_END()
