// Negotiation derived from a milter's type: checked at compile time and on the wire.
#include "sender_block.hpp"
#include "showcase.hpp"
#include "stamp.hpp"
#include "tagger.hpp"

#include <cppmilter/cppmilter.hpp>
#include <cppmilter/testing/harness.hpp>

#include <boost/test/unit_test.hpp>

namespace cm = cppmilter;
namespace proto = cppmilter::proto;
using P = proto::protocol;
using A = proto::action;

namespace {

template <class M>
constexpr cm::negotiation negotiation_of(const M&) {
    return M::negotiation;
}

// A milter that has every stage with a verdict decided at run time: nothing may be switched
// off, every command is answered.
inline constexpr auto everything = cm::milter(
    cm::on_connect([](const cm::connect_info&) -> cm::verdict { return cm::next; }),
    cm::on_helo([](const cm::helo_info&) -> cm::verdict { return cm::next; }),
    cm::on_mail_from([](const cm::mail_from&) -> cm::verdict { return cm::next; }),
    cm::on_rcpt([](const cm::rcpt&) -> cm::verdict { return cm::next; }),
    cm::on_data([](const cm::data_info&) -> cm::verdict { return cm::next; }),
    cm::on_header([](const cm::header&) -> cm::verdict { return cm::next; }),
    cm::on_end_of_headers([](const cm::end_of_headers_info&) -> cm::verdict { return cm::next; }),
    cm::on_body([](const cm::body_chunk&) -> cm::body_verdict { return cm::skip; }),
    cm::on_end_of_message([](const cm::end_of_message&) -> cm::eom<cm::replace_body, cm::add_rcpt_with_args, cm::change_from, cm::del_rcpt, cm::delete_header> {
        return cm::next;
    }),
    cm::on_unknown([](const cm::unknown_command&) { return cm::reject; }));

// sender_block blocks what --block lists: these tests (and the pipeline's) use blocked.example.
struct block_the_example_domain {
    block_the_example_domain() { examples::blocked_senders.set({.domains = {"blocked.example"}}); }
};
BOOST_TEST_GLOBAL_FIXTURE(block_the_example_domain);

} // namespace

// sender_block: only MAIL FROM is sent and answered; nothing else, no actions.
static_assert(negotiation_of(examples::sender_block).actions.empty());
static_assert(negotiation_of(examples::sender_block).protocol ==
              (P::no_connect | P::no_helo | P::no_rcpt | P::no_data | P::no_headers | P::no_end_of_headers |
               P::no_body | P::no_unknown | P::no_reply_connect | P::no_reply_helo | P::no_reply_rcpt |
               P::no_reply_data | P::no_reply_header | P::no_reply_end_of_headers | P::no_reply_body |
               P::no_reply_unknown));
// tagger: void MAIL/RCPT hooks → NR; headers kept for end of message; its result type's actions.
static_assert(negotiation_of(examples::tagger).actions == (A::add_headers | A::quarantine));
static_assert(negotiation_of(examples::tagger).protocol.has(P::no_reply_mail));
static_assert(negotiation_of(examples::tagger).protocol.has(P::no_reply_rcpt));
static_assert(!negotiation_of(examples::tagger).protocol.has(P::no_headers));
static_assert(negotiation_of(examples::tagger).protocol.has(P::no_reply_header));
static_assert(negotiation_of(examples::tagger).protocol.has(P::no_body));
static_assert(*negotiation_of(examples::tagger).macros[2] == "{auth_authen}");
static_assert(*negotiation_of(examples::tagger).macros[5] == "i");
static_assert(!negotiation_of(examples::tagger).macros[0].has_value());
// everything: no NO*/NR* bit at all; SKIP because the body hook can skip; exact actions.
static_assert(negotiation_of(everything).protocol == proto::protocol_set{P::skip});
static_assert(negotiation_of(everything).actions ==
              (A::change_body | A::add_rcpt_with_args | A::change_from | A::del_rcpt | A::change_headers));

// showcase (the binary the server tests, cppmilter-send's tests and the Postfix runs use), all
// of its negotiation; `showcase --print-negotiation` prints it as
//   actions:  ADDHDRS|CHGBODY|ADDRCPT|DELRCPT|CHGHDRS|QUARANTINE|CHGFROM
//   protocol: NOCONNECT|NOHELO|NOBODY|NOEOH|NR_HDR|NOUNKNOWN|NODATA|NR_CONN|NR_HELO|NR_DATA|NR_UNKN|NR_EOH|NR_BODY
// and example.showcase_negotiation checks that print.
static_assert(negotiation_of(examples::showcase) ==
              cm::negotiation{
                  // One bit per modification type of its end-of-message result: add_header and
                  // insert_header → ADDHDRS, change_header → CHGHDRS, replace_body → CHGBODY,
                  // add_rcpt → ADDRCPT (not ADDRCPT_PAR: no ESMTP arguments), del_rcpt →
                  // DELRCPT, change_from → CHGFROM, quarantine → QUARANTINE.
                  .actions = A::add_headers | A::change_headers | A::change_body | A::add_rcpt | A::del_rcpt |
                             A::change_from | A::quarantine,
                  // MAIL and RCPT have hooks returning cm::verdict (a blocked sender, tempfail@):
                  // sent and answered, no bit. Headers are sent (end of message reads
                  // message_headers) but have no hook: NR_HDR. Every other stage has no hook:
                  // not sent (NO*), and unanswered should an MTA send it anyway (NR_*). No SKIP:
                  // there is no body hook.
                  .protocol = P::no_connect | P::no_reply_connect | P::no_helo | P::no_reply_helo | P::no_data |
                              P::no_reply_data | P::no_reply_header | P::no_end_of_headers |
                              P::no_reply_end_of_headers | P::no_body | P::no_reply_body | P::no_unknown |
                              P::no_reply_unknown,
                  // No macro declared for any stage.
                  .macros = {},
              });

// stamp: hooks that can only continue (cm::next_t) need no answer; only end of message is
// answered. stamp_answering: the same hooks typed cm::verdict are all answered.
static_assert(negotiation_of(examples::stamp).protocol ==
              (P::no_reply_connect | P::no_reply_helo | P::no_reply_mail | P::no_reply_rcpt | P::no_reply_data |
               P::no_reply_header | P::no_reply_end_of_headers | P::no_reply_body | P::no_reply_unknown));
static_assert(negotiation_of(examples::stamp_answering).protocol.empty());
static_assert(negotiation_of(examples::stamp).actions == negotiation_of(examples::stamp_answering).actions);

BOOST_AUTO_TEST_SUITE(derivation)

BOOST_AUTO_TEST_CASE(the_wire_says_what_the_type_says) {
    cm::testing::harness sb{examples::sender_block};
    BOOST_TEST(sb.negotiated().actions == negotiation_of(examples::sender_block).actions);
    BOOST_TEST(sb.negotiated().protocol == negotiation_of(examples::sender_block).protocol);

    cm::testing::harness t{examples::tagger};
    BOOST_TEST(proto::to_string(t.negotiated().actions) == "ADDHDRS|QUARANTINE|SETSYMLIST");
    BOOST_TEST(t.negotiated().protocol == negotiation_of(examples::tagger).protocol);
    BOOST_TEST(t.negotiated().macros[2].value() == "{auth_authen}");

    cm::testing::harness e{everything};
    BOOST_TEST(proto::to_string(e.negotiated().protocol) == "SKIP");

    cm::testing::harness st{examples::stamp};
    BOOST_TEST(st.negotiated().protocol == negotiation_of(examples::stamp).protocol);
    BOOST_TEST(st.connect() == "(no answer)");
    BOOST_TEST(st.mail_from("<a@example.test>") == "(no answer)");
    BOOST_TEST(st.end_of_message() == "ADDHEADER name=\"X-Bench\" value=\"1\"; CONTINUE");
}

BOOST_AUTO_TEST_CASE(an_mta_that_cannot_grant_an_action_is_refused) {
    const proto::optneg no_quarantine{6, proto::all_actions - A::quarantine, proto::all_protocol};
    try {
        cm::testing::harness h{examples::tagger, no_quarantine};
        BOOST_FAIL("negotiation should have failed");
    } catch (const std::runtime_error& e) {
        BOOST_TEST(std::string{e.what()} ==
                   "protocol error: OPTNEG: MTA does not offer required actions (field 'actions'): QUARANTINE");
    }
}

BOOST_AUTO_TEST_CASE(without_no_bits_on_offer_the_milter_still_answers) {
    // An MTA offering no NO*/NR* bits sends every command and waits for every answer. (An
    // offer of 0 would mean the v1 bits, NO* included, §5.1.)
    cm::testing::harness h{examples::sender_block, proto::optneg{6, proto::all_actions, P::rcpt_rejected}};
    BOOST_TEST(h.negotiated().protocol.empty());
    BOOST_TEST(h.connect() == "CONTINUE");
    BOOST_TEST(h.helo("client") == "CONTINUE");
    BOOST_TEST(h.mail_from("<a@blocked.example>") == "REPLYCODE text=\"550 5.7.1 sender blocked\"");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(examples)

BOOST_AUTO_TEST_CASE(sender_block_rejects_only_blocked_senders) {
    examples::blocked_senders.set({.domains = {"Blocked.Example", "@other.test"}});
    struct restore {
        ~restore() { examples::blocked_senders.set({.domains = {"blocked.example"}}); }
    } restore_after;
    cm::testing::harness h{examples::sender_block};
    BOOST_TEST(h.connect() == "(not sent)");
    BOOST_TEST(h.helo("client.example") == "(not sent)");
    BOOST_TEST(h.mail_from("<alice@blocked.example>") == "REPLYCODE text=\"550 5.7.1 sender blocked\"");
    h.abort();
    BOOST_TEST(h.mail_from("<Bob@BLOCKED.Example>", {"SIZE=10"}) == "REPLYCODE text=\"550 5.7.1 sender blocked\"");
    h.abort();
    BOOST_TEST(h.mail_from("alice@blocked.example") == "REPLYCODE text=\"550 5.7.1 sender blocked\"");
    h.abort();
    BOOST_TEST(h.mail_from("<carol@mx.sub.blocked.example>") == "REPLYCODE text=\"550 5.7.1 sender blocked\"");
    h.abort();
    BOOST_TEST(h.mail_from("<dave@other.test>") == "REPLYCODE text=\"550 5.7.1 sender blocked\"");
    h.abort();
    BOOST_TEST(h.mail_from("<alice@notblocked.example>") == "CONTINUE"); // a label, not a suffix
    BOOST_TEST(h.mail_from("<alice@notblocked.example.org>") == "CONTINUE");
    BOOST_TEST(h.mail_from("<alice@example.org>") == "CONTINUE");
    BOOST_TEST(h.mail_from("<>") == "CONTINUE");
    BOOST_TEST(h.rcpt("<bob@example.org>") == "(not sent)");
    BOOST_TEST(h.end_of_message() == "CONTINUE");
}

BOOST_AUTO_TEST_CASE(sender_block_refuses_what_is_not_a_domain) {
    for (std::string bad : {"", "a b.example", "x@y.example", "<y.example>"}) {
        BOOST_CHECK_EXCEPTION(examples::blocked_senders.set({.domains = {bad}}), cm::settings_error,
                              [&](const cm::settings_error& e) {
                                  return std::string{e.what()}.starts_with("--block: '");
                              });
    }
    cm::testing::harness h{examples::sender_block}; // the refused lists changed nothing
    BOOST_TEST(h.mail_from("<a@blocked.example>") == "REPLYCODE text=\"550 5.7.1 sender blocked\"");
}

BOOST_AUTO_TEST_CASE(tagger_counts_and_stamps) {
    cm::testing::harness h{examples::tagger};
    h.connect();
    h.macros('M', {{"{auth_authen}", "alice"}});
    BOOST_TEST(h.mail_from("<a@example.org>") == "(no answer)"); // void hook: NR_MAIL
    BOOST_TEST(h.rcpt("<b@example.org>") == "(no answer)");
    h.rcpt("<c@example.org>");
    h.data();
    BOOST_TEST(h.header("Subject", "please [hold] this") == "(no answer)");
    h.end_of_headers();
    BOOST_TEST(h.body("x\r\n") == "(not sent)");
    h.macros('E', {{"i", "QID1"}});
    BOOST_TEST(h.end_of_message() ==
               "ADDHEADER name=\"X-Recipients\" value=\"2\"; ADDHEADER name=\"X-Message-Number\" value=\"1\"; "
               "ADDHEADER name=\"X-Queue-Id\" value=\"QID1\"; INSHEADER index=0 name=\"X-Authenticated-As\" "
               "value=\"alice\"; QUARANTINE reason=\"subject asked for a hold\"; CONTINUE");
}

BOOST_AUTO_TEST_SUITE_END()

namespace {
// A body hook that can skip, and an end-of-message hook that needs the whole body.
inline constexpr auto skip_but_whole = cm::milter(
    cm::on_body([](const cm::body_chunk&) -> cm::body_verdict { return cm::skip; }),
    cm::on_end_of_message([](const cm::whole_message& m) -> cm::eom<cm::add_header> {
        return cm::add_header{"X-Body-Size", std::to_string(m.body.size())};
    }));
} // namespace
static_assert(!negotiation_of(skip_but_whole).protocol.has(P::skip));
static_assert(!negotiation_of(skip_but_whole).protocol.has(P::no_body));

// stamp: hooks that can only continue (cm::next_t) need no answer; only end of message is
// answered. stamp_answering: the same hooks typed cm::verdict are all answered.
static_assert(negotiation_of(examples::stamp).protocol ==
              (P::no_reply_connect | P::no_reply_helo | P::no_reply_mail | P::no_reply_rcpt | P::no_reply_data |
               P::no_reply_header | P::no_reply_end_of_headers | P::no_reply_body | P::no_reply_unknown));
static_assert(negotiation_of(examples::stamp_answering).protocol.empty());
static_assert(negotiation_of(examples::stamp).actions == negotiation_of(examples::stamp_answering).actions);

BOOST_AUTO_TEST_SUITE(derivation)
BOOST_AUTO_TEST_CASE(whole_body_wins_over_skip) {
    cm::testing::harness h{skip_but_whole};
    h.mail_from("<a@x>");
    BOOST_TEST(h.body("12345") == "CONTINUE");
    BOOST_TEST(h.body("678") == "CONTINUE");
    BOOST_TEST(h.end_of_message() == "ADDHEADER name=\"X-Body-Size\" value=\"8\"; CONTINUE");
}
BOOST_AUTO_TEST_SUITE_END()
