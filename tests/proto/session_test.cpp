// The filter-side state machine against transcripts shaped like real Postfix sessions.
#include "support/hex.hpp"

#include "support/result.hpp"

#include <cppmilter/proto.hpp>

#include <boost/test/unit_test.hpp>

#include <sstream>

namespace proto = cppmilter::proto;
using cppmilter::test::why;
using cppmilter::test::raw;
using cppmilter::test::to_hex;
using proto::action;
using proto::command_kind;
using proto::errc;
using proto::protocol;
using proto::session_step;

namespace {

constexpr proto::optneg postfix_offer{6, proto::all_actions, proto::all_protocol};

proto::macro macro(char stage, std::string_view raw = {}) { return {stage, proto::macro_pairs{raw}}; }

/// Drives a filter_session one command at a time, one line per MTA event.
struct mta {
    proto::filter_session session;
    std::string out;

    explicit mta(proto::negotiation_request request = {}, proto::optneg offer = postfix_offer) : session{request} {
        auto ev = send(offer);
        BOOST_TEST_REQUIRE(ev.has_value(), why(ev));
    }

    proto::result<proto::session_event> send(const proto::command& c) {
        out.clear();
        return session.on_command(c, out);
    }
    /// Sends `c`, which must be delivered to a hook, and answers it with `r`.
    void event(const proto::command& c, const proto::reply& r = proto::continue_{}) {
        auto ev = send(c);
        std::ostringstream what;
        what << c;
        BOOST_TEST_REQUIRE(ev.has_value(), what.str() << ": " << why(ev));
        BOOST_TEST_REQUIRE((ev->step == session_step::call_hook), what.str() << ": " << proto::to_string(ev->step));
        auto ok = session.answer(r, out);
        BOOST_TEST_REQUIRE(ok.has_value(), what.str() << ": " << why(ok));
    }
    /// Sends `c`, which must fail with `code`; returns the error's field.
    std::string fails(const proto::command& c, errc code) {
        auto ev = send(c);
        std::ostringstream what;
        what << c;
        BOOST_TEST_REQUIRE(!ev.has_value(), what.str() << " was accepted");
        BOOST_TEST((ev.error().code == code), what.str() << ": " << why(ev));
        return std::string{ev.error().field};
    }
    void message(std::string_view from = "<a@example.org>") {
        BOOST_TEST_REQUIRE(send(macro('M')).has_value());
        event(proto::mail{from, {}});
    }
};

} // namespace

// `event(macro)` would fail (MACRO is not delivered); this overload keeps transcripts short.
namespace {
void mta_macro(mta& m, char stage, std::string_view raw = {}) {
    auto ev = m.send(macro(stage, raw));
    BOOST_TEST_REQUIRE(ev.has_value());
    BOOST_TEST_REQUIRE((ev->step == session_step::none));
    BOOST_TEST(m.out.empty());
}
} // namespace

BOOST_AUTO_TEST_SUITE(session)

BOOST_AUTO_TEST_CASE(negotiation_follows_section_5) {
    proto::negotiation_request req;
    req.actions = action::add_headers | action::quarantine;
    req.protocol = protocol::no_connect | protocol::no_reply_header | protocol::max_data_size_1m;
    req.macros[0] = "j {client_addr}";
    auto reply = proto::negotiate(postfix_offer, req);
    BOOST_TEST_REQUIRE(reply.has_value());
    BOOST_TEST(reply->version == 6u);
    BOOST_TEST(proto::to_string(reply->actions) == "ADDHDRS|QUARANTINE|SETSYMLIST");
    BOOST_TEST(proto::to_string(reply->protocol) == "NOCONNECT|NR_HDR"); // never an MDS bit
    BOOST_TEST(*reply->macros[0] == "j {client_addr}");

    // A higher MTA version gets 6, a lower one is echoed.
    BOOST_TEST(proto::negotiate({7, proto::all_actions, proto::all_protocol}, {})->version == 6u);
    BOOST_TEST(proto::negotiate({2, proto::all_actions, proto::all_protocol}, {})->version == 2u);

    // Only offered protocol bits are granted; without SETSYMLIST on offer no lists are sent.
    auto old = proto::negotiate({2, proto::v2_actions, proto::v2_protocol}, req);
    BOOST_TEST_REQUIRE(old.has_value());
    BOOST_TEST(proto::to_string(old->protocol) == "NOCONNECT");
    BOOST_TEST(proto::to_string(old->actions) == "ADDHDRS|QUARANTINE");
    BOOST_TEST(!old->macros[0].has_value());

    // A legacy 0 offer means the v1 sets (§5.1): QUARANTINE is not among them.
    auto legacy = proto::negotiate({2, {}, {}}, req);
    BOOST_TEST_REQUIRE(!legacy.has_value());
    BOOST_TEST((legacy.error().code == errc::actions_not_offered));
    BOOST_TEST(legacy.error().message() ==
               "OPTNEG: MTA does not offer required actions (field 'actions'): QUARANTINE");
    BOOST_TEST(proto::negotiate({2, {}, {}}, {.actions = action::add_headers})->protocol.empty());
    BOOST_TEST((proto::negotiate({1, {}, {}}, {}).error().code == errc::unsupported_version));
}

BOOST_AUTO_TEST_CASE(optneg_reply_bytes) {
    proto::negotiation_request req{.actions = action::add_headers};
    mta m{req};
    BOOST_TEST(to_hex(m.out) == "0000000d4f000000060000000100000000"); // PROTOCOL.md §9 packet 2
    BOOST_TEST(m.session.negotiated());
    BOOST_TEST((m.session.phase() == proto::session_phase::negotiated));
}

BOOST_AUTO_TEST_CASE(postfix_transcript_with_several_messages) {
    mta m{{.actions = action::add_headers}};
    mta_macro(m, 'C', raw("j\0mx.example\0{client_addr}\0" "192.0.2.1\0"));
    m.event(proto::connect{"[192.0.2.1]", proto::address_family::inet, 4000, "192.0.2.1"});
    BOOST_TEST(to_hex(m.out) == "0000000163");
    mta_macro(m, 'H'); // empty MACRO, as Postfix sends them
    m.event(proto::helo{"client"});
    for (int msg = 0; msg < 3; ++msg) {
        mta_macro(m, 'M', raw("{mail_addr}\0a@example.org\0"));
        m.event(proto::mail{"<a@example.org>", {}});
        BOOST_TEST(!m.session.macros().find("i").has_value()); // no queue id at MAIL (§7.4)
        mta_macro(m, 'R', raw("{rcpt_addr}\0b@example.org\0"));
        m.event(proto::rcpt{"<b@example.org>", {}});
        m.event(proto::rcpt{"<c@example.org>", {}}, proto::smtp_reply{"550 5.1.1 no such user"});
        mta_macro(m, 'T', raw("i\0QID1\0"));
        m.event(proto::data{});
        for (int h = 0; h < 2; ++h) {
            mta_macro(m, 'L', raw("i\0QID1\0"));
            m.event(proto::header{"Subject", "x"});
        }
        mta_macro(m, 'N', raw("i\0QID1\0"));
        m.event(proto::end_of_headers{});
        for (int b = 0; b < 2; ++b) {
            mta_macro(m, 'B', raw("i\0QID1\0"));
            m.event(proto::body{"chunk"});
        }
        mta_macro(m, 'E', raw("i\0QID1\0"));
        BOOST_TEST(m.session.macros().find("i").value() == "QID1");
        BOOST_TEST(m.session.macros().find("{i}").value() == "QID1");
        BOOST_TEST(m.session.macros().find("client_addr").value() == "192.0.2.1");
        BOOST_TEST(m.session.macros().find("{mail_addr}").value() == "a@example.org");
        auto ev = m.send(proto::end_of_body{});
        BOOST_TEST_REQUIRE((ev && ev->step == session_step::call_hook && ev->expects_answer));
        BOOST_TEST_REQUIRE(m.session.answer(proto::add_header{"X-Seen", "1"}, m.out).has_value());
        BOOST_TEST_REQUIRE(m.session.answer(proto::continue_{}, m.out).has_value());
        BOOST_TEST(to_hex(m.out) == "0000000a68582d5365656e0031000000000163");
        BOOST_TEST((m.session.phase() == proto::session_phase::message_done));
        // Postfix sends ABORT after every transaction, sometimes twice; no reply, no abort hook.
        for (int a = 0; a < 2; ++a) {
            auto ab = m.send(proto::abort{});
            BOOST_TEST_REQUIRE(ab.has_value());
            BOOST_TEST((ab->step == session_step::none));
            BOOST_TEST(m.out.empty());
        }
        // The message's macros are gone; the connection's stay.
        BOOST_TEST(!m.session.macros().find("i").has_value());
        BOOST_TEST(m.session.macros().find("j").value() == "mx.example");
    }
    auto q = m.send(proto::quit{});
    BOOST_TEST_REQUIRE(q.has_value());
    BOOST_TEST((q->step == session_step::close));
    BOOST_TEST(!q->aborted_message);
    BOOST_TEST(m.fails(proto::helo{"again"}, errc::session_closed).empty());
}

BOOST_AUTO_TEST_CASE(abort_inside_a_message) {
    mta m;
    m.event(proto::connect{"h", proto::address_family::unknown, 0, {}});
    m.message();
    m.event(proto::rcpt{"<b@x>", {}});
    auto ab = m.send(proto::abort{}); // RSET
    BOOST_TEST_REQUIRE(ab.has_value());
    BOOST_TEST((ab->step == session_step::abort_message));
    BOOST_TEST((m.session.phase() == proto::session_phase::connected));
    BOOST_TEST((m.send(proto::abort{})->step == session_step::none)); // idempotent
    BOOST_TEST(m.fails(proto::rcpt{"<b@x>", {}}, errc::out_of_order) == "outside a message (MAIL expected)");
    m.message();
}

BOOST_AUTO_TEST_CASE(implicit_aborts) {
    mta m;
    m.event(proto::connect{"h", proto::address_family::unknown, 0, {}});
    m.message();
    auto again = m.send(proto::mail{"<b@x>", {}}); // a second MAIL starts over
    BOOST_TEST_REQUIRE(again.has_value());
    BOOST_TEST(again->aborted_message);
    BOOST_TEST_REQUIRE(m.session.answer(proto::continue_{}, m.out).has_value());
    auto helo = m.send(proto::helo{"x"}); // EHLO inside a transaction resets it
    BOOST_TEST_REQUIRE(helo.has_value());
    BOOST_TEST(helo->aborted_message);
    BOOST_TEST_REQUIRE(m.session.answer(proto::continue_{}, m.out).has_value());
    m.message();
    auto q = m.send(proto::quit{});
    BOOST_TEST((q && q->aborted_message && q->step == session_step::close));

    mta eof;
    eof.event(proto::connect{"h", proto::address_family::unknown, 0, {}});
    eof.message();
    BOOST_TEST(eof.session.on_disconnect());
    BOOST_TEST((eof.session.phase() == proto::session_phase::closed));
}

BOOST_AUTO_TEST_CASE(out_of_order_commands_are_named) {
    {
        proto::filter_session s;
        std::string out;
        auto ev = s.on_command(proto::helo{"x"}, out);
        BOOST_TEST_REQUIRE(!ev.has_value());
        BOOST_TEST(ev.error().message() == "HELO: command out of order (before OPTNEG)");
        auto mac = s.on_command(macro('C'), out);
        BOOST_TEST((!mac && mac.error().code == errc::out_of_order));
    }
    mta m;
    BOOST_TEST(m.fails(postfix_offer, errc::out_of_order) == "after negotiation");
    BOOST_TEST(m.fails(proto::helo{"x"}, errc::out_of_order) == "before CONNECT");
    BOOST_TEST(m.fails(proto::mail{"<>", {}}, errc::out_of_order) == "before CONNECT");
    m.event(proto::connect{"h", proto::address_family::unknown, 0, {}});
    BOOST_TEST(m.fails(proto::connect{"h", proto::address_family::unknown, 0, {}}, errc::out_of_order) ==
               "after CONNECT (QUIT_NC must come first)");
    BOOST_TEST(m.fails(proto::rcpt{"<b@x>", {}}, errc::out_of_order) == "outside a message (MAIL expected)");
    BOOST_TEST(m.fails(proto::end_of_body{}, errc::out_of_order) == "outside a message (MAIL expected)");
    m.message();
    m.event(proto::rcpt{"<b@x>", {}});
    m.event(proto::data{});
    BOOST_TEST(m.fails(proto::data{}, errc::out_of_order) == "after DATA");
    BOOST_TEST(m.fails(proto::rcpt{"<c@x>", {}}, errc::out_of_order) == "after DATA");
    m.event(proto::header{"A", "b"});
    m.event(proto::end_of_headers{});
    BOOST_TEST(m.fails(proto::header{"A", "b"}, errc::out_of_order) == "after EOH");
    m.event(proto::body{"x"});
    BOOST_TEST(m.fails(proto::end_of_headers{}, errc::out_of_order) == "after BODY");
    // A command while the answer to the previous one is still owed.
    auto eob = m.send(proto::end_of_body{});
    BOOST_TEST_REQUIRE(eob.has_value());
    BOOST_TEST(m.fails(proto::mail{"<>", {}}, errc::out_of_order) == "while the answer to the previous command is pending");
    BOOST_TEST_REQUIRE(m.session.answer(proto::accept{}, m.out).has_value());
    BOOST_TEST(m.fails(proto::body{"late"}, errc::out_of_order) == "after end of message (MAIL expected)");
    m.message(); // a new MAIL without ABORT (Sendmail style) is fine
}

BOOST_AUTO_TEST_CASE(answers_are_checked) {
    mta m{{.actions = action::add_headers, .protocol = protocol::skip}};
    auto no_owed = m.session.answer(proto::continue_{}, m.out);
    BOOST_TEST((!no_owed && no_owed.error().code == errc::reply_not_expected));

    auto conn = m.send(proto::connect{"h", proto::address_family::unknown, 0, {}});
    BOOST_TEST_REQUIRE(conn.has_value());
    auto disc = m.session.answer(proto::discard{}, m.out);
    BOOST_TEST(disc.error().field == "DISCARD is not allowed at CONNECT or HELO");
    auto mod = m.session.answer(proto::add_header{"X", "y"}, m.out);
    BOOST_TEST(mod.error().message() == "ADDHEADER: reply where none is expected (field 'only in the answer to end of message')");
    auto prog = m.session.answer(proto::progress{}, m.out);
    BOOST_TEST((!prog && prog.error().code == errc::reply_not_expected));
    auto sk = m.session.answer(proto::skip{}, m.out);
    BOOST_TEST(sk.error().field == "SKIP only answers BODY");
    BOOST_TEST(m.out.empty());
    BOOST_TEST_REQUIRE(m.session.answer(proto::continue_{}, m.out).has_value());

    m.message();
    auto body = m.send(proto::body{"x"});
    BOOST_TEST_REQUIRE(body.has_value());
    BOOST_TEST_REQUIRE(m.session.answer(proto::skip{}, m.out).has_value());
    BOOST_TEST(to_hex(m.out) == "0000000173"); // SKIP was negotiated: sent as is
    m.out.clear();

    BOOST_TEST_REQUIRE(m.send(proto::end_of_body{}).has_value());
    auto chg = m.session.answer(proto::change_from{"<x@y>", ""}, m.out);
    BOOST_TEST_REQUIRE(!chg.has_value());
    BOOST_TEST((chg.error().code == errc::not_negotiated));
    BOOST_TEST(chg.error().message() ==
               "CHGFROM: reply needs an action or feature that was not negotiated (field 'actions'): CHGFROM");
    BOOST_TEST_REQUIRE(m.session.answer(proto::progress{}, m.out).has_value());
    BOOST_TEST_REQUIRE(m.session.answer(proto::insert_header{0, "X-First", "1"}, m.out).has_value());
    BOOST_TEST_REQUIRE(m.session.answer(proto::smtp_reply{"550 5.7.1 no"}, m.out).has_value());
    BOOST_TEST((m.session.phase() == proto::session_phase::message_done));
    auto late = m.session.answer(proto::continue_{}, m.out);
    BOOST_TEST((!late && late.error().code == errc::reply_not_expected));
}

BOOST_AUTO_TEST_CASE(skip_without_mta_support_becomes_continue) {
    mta m{{}, {6, proto::all_actions, proto::all_protocol - protocol::skip}};
    m.event(proto::connect{"h", proto::address_family::unknown, 0, {}});
    m.message();
    m.out.clear();
    m.event(proto::body{"x"}, proto::skip{});
    BOOST_TEST(to_hex(m.out) == "0000000163");
}

BOOST_AUTO_TEST_CASE(replace_body_must_be_one_run) {
    mta m{{.actions = action::change_body | action::add_headers}};
    m.event(proto::connect{"h", proto::address_family::unknown, 0, {}});
    m.message();
    BOOST_TEST_REQUIRE(m.send(proto::end_of_body{}).has_value());
    BOOST_TEST_REQUIRE(m.session.answer(proto::replace_body{"a"}, m.out).has_value());
    BOOST_TEST_REQUIRE(m.session.answer(proto::replace_body{"b"}, m.out).has_value());
    BOOST_TEST_REQUIRE(m.session.answer(proto::add_header{"X", "y"}, m.out).has_value());
    auto again = m.session.answer(proto::replace_body{"c"}, m.out);
    BOOST_TEST((!again && again.error().code == errc::out_of_order));
    BOOST_TEST_REQUIRE(m.session.answer(proto::continue_{}, m.out).has_value());
}

BOOST_AUTO_TEST_CASE(no_reply_bits_silence_answers) {
    mta m{{.protocol = protocol::no_reply_connect | protocol::no_reply_header | protocol::no_reply_rcpt}};
    auto c = m.send(proto::connect{"h", proto::address_family::unknown, 0, {}});
    BOOST_TEST_REQUIRE(c.has_value());
    BOOST_TEST(!c->expects_answer);
    BOOST_TEST_REQUIRE(m.session.answer(proto::continue_{}, m.out).has_value());
    BOOST_TEST(m.out.empty());
    m.message();
    auto r = m.send(proto::rcpt{"<b@x>", {}});
    BOOST_TEST_REQUIRE(r.has_value());
    auto rej = m.session.answer(proto::reject{}, m.out); // cannot reject what is not answered
    BOOST_TEST(rej.error().field == "the MTA waits for no answer here (NR negotiated)");
    // Not answering at all is fine too: the next command settles it (Postfix pipelines headers).
    m.event(proto::data{});
    for (int i = 0; i < 3; ++i) {
        auto h = m.send(proto::header{"A", "b"});
        BOOST_TEST_REQUIRE(h.has_value());
        BOOST_TEST(!h->expects_answer);
    }
    m.out.clear();
    m.event(proto::end_of_headers{});
    BOOST_TEST(to_hex(m.out) == "0000000163");
}

BOOST_AUTO_TEST_CASE(no_bits_let_the_mta_skip_stages) {
    mta m{{.protocol = protocol::no_connect | protocol::no_mail | protocol::no_rcpt | protocol::no_headers}};
    BOOST_TEST(!m.session.options().sends(command_kind::connect));
    m.event(proto::helo{"x"}); // no CONNECT
    m.event(proto::data{});   // no MAIL, no RCPT: DATA opens the message
    m.event(proto::end_of_headers{});
    BOOST_TEST_REQUIRE(m.send(proto::end_of_body{}).has_value());
    BOOST_TEST_REQUIRE(m.session.answer(proto::continue_{}, m.out).has_value());

    mta v2{{}, {2, proto::all_actions, proto::v2_protocol}};
    BOOST_TEST(v2.session.options().version == 2u);
    BOOST_TEST(!v2.session.options().sends(command_kind::data));
    BOOST_TEST(!v2.session.options().sends(command_kind::unknown));
}

BOOST_AUTO_TEST_CASE(quit_new_connection_keeps_options) {
    mta m{{.actions = action::add_headers}};
    mta_macro(m, 'C', raw("j\0mx\0"));
    m.event(proto::connect{"h", proto::address_family::unknown, 0, {}});
    m.message();
    auto k = m.send(proto::quit_new_connection{});
    BOOST_TEST_REQUIRE(k.has_value());
    BOOST_TEST((k->step == session_step::new_connection));
    BOOST_TEST(k->aborted_message);
    BOOST_TEST(!m.session.macros().find("j").has_value());
    BOOST_TEST(m.session.options().actions.has(action::add_headers));
    m.event(proto::connect{"h2", proto::address_family::inet, 25, "192.0.2.2"}); // no new OPTNEG
    BOOST_TEST(m.fails(postfix_offer, errc::out_of_order) == "after negotiation");
}

BOOST_AUTO_TEST_CASE(unknown_and_macros_anywhere) {
    mta m;
    m.event(proto::unknown{"XFOO"}); // libmilter allows it straight after OPTNEG
    m.event(proto::connect{"h", proto::address_family::unknown, 0, {}});
    m.message();
    mta_macro(m, 'U');
    m.event(proto::unknown{"XBAR"});
    mta_macro(m, 'Z', raw("x\0y\0")); // any letter is accepted and ignored
    BOOST_TEST(!m.session.macros().find("x").has_value());
    m.event(proto::rcpt{"<b@x>", {}}); // UNKNOWN did not change the phase
}

BOOST_AUTO_TEST_CASE(later_stage_macros_are_forgotten) {
    mta m;
    mta_macro(m, 'C', raw("j\0mx\0"));
    m.event(proto::connect{"h", proto::address_family::unknown, 0, {}});
    mta_macro(m, 'M', raw("{auth_authen}\0alice\0"));
    mta_macro(m, 'R', raw("{rcpt_addr}\0b\0"));
    BOOST_TEST(m.session.macros().find("rcpt_addr").value() == "b");
    mta_macro(m, 'M', raw("{auth_authen}\0bob\0")); // next message
    BOOST_TEST(!m.session.macros().find("rcpt_addr").has_value());
    BOOST_TEST(m.session.macros().find("auth_authen").value() == "bob");
    BOOST_TEST(m.session.macros().stage('M').size() == 1u);
    BOOST_TEST(m.session.macros().find("j").value() == "mx");
}

BOOST_AUTO_TEST_CASE(the_stages_are_kept_apart_in_one_string) {
    mta m;
    mta_macro(m, 'U', raw("u\0first\0"));
    mta_macro(m, 'C', raw("j\0mx\0"));
    mta_macro(m, 'H', raw("{tls_version}\0TLSv1.3\0"));
    mta_macro(m, 'U', raw("u\0a longer second value\0")); // U sits before the stages: they move
    BOOST_TEST(m.session.macros().find("u").value() == "a longer second value");
    BOOST_TEST(m.session.macros().find("j").value() == "mx");
    BOOST_TEST(m.session.macros().find("tls_version").value() == "TLSv1.3");
    mta_macro(m, 'M', raw("i\0Q1\0"));
    mta_macro(m, 'C', raw("j\0mx2\0")); // a new CONNECT's macros: the rest is forgotten, U's too
    BOOST_TEST(m.session.macros().find("j").value() == "mx2");
    BOOST_TEST(!m.session.macros().find("u").has_value());
    BOOST_TEST(!m.session.macros().find("tls_version").has_value());
    BOOST_TEST(!m.session.macros().find("i").has_value());
}

BOOST_AUTO_TEST_CASE(only_listed_macros_are_kept_when_asked) {
    proto::negotiation_request request;
    request.macros[0] = "{client_addr} j"; // connect
    request.macros[3] = "i";               // another stage's list
    request.keep_listed_macros_only = true;
    mta m{request};
    mta_macro(m, 'C', raw("j\0mx\0{daemon_name}\0mx\0client_addr\0" "192.0.2.1\0v\0Postfix 3.7\0"));
    BOOST_TEST(m.session.macros().find("j").value() == "mx");
    BOOST_TEST(m.session.macros().find("{client_addr}").value() == "192.0.2.1"); // {x} and x alike
    BOOST_TEST(!m.session.macros().find("daemon_name").has_value());
    BOOST_TEST(!m.session.macros().find("v").has_value());
    BOOST_TEST(m.session.macros().stage('C').size() == 2u);
    // A name listed for another stage is kept wherever it comes.
    mta_macro(m, 'M', raw("i\0Q1\0{mail_addr}\0a@example.org\0"));
    BOOST_TEST(m.session.macros().find("i").value() == "Q1");
    BOOST_TEST(!m.session.macros().find("mail_addr").has_value());
    // Nothing listed at all: nothing kept.
    mta none{proto::negotiation_request{.keep_listed_macros_only = true}};
    mta_macro(none, 'C', raw("j\0mx\0"));
    BOOST_TEST(none.session.macros().stage('C').size() == 0u);
    // Without the flag, everything is kept (the default).
    mta all;
    mta_macro(all, 'C', raw("j\0mx\0{daemon_name}\0mx\0"));
    BOOST_TEST(all.session.macros().stage('C').size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
