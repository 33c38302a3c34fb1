// The editable message through the harness: what a hook edits arrives as the minimal
// modifications, with the index rules of the MTA (Postfix unless macro `v` says otherwise).
#include <cppmilter/cppmilter.hpp>
#include <cppmilter/testing/harness.hpp>

#include <boost/test/unit_test.hpp>

#include <string>

namespace cm = cppmilter;
namespace proto = cppmilter::proto;

namespace {

// Edits chosen by the Subject, one keyword per edit.
inline constexpr auto editor = cm::milter(cm::on_end_of_message(
    [](cm::editable<cm::edit::headers, cm::edit::recipients, cm::edit::sender, cm::edit::body>& msg) -> cm::verdict {
        const std::string subject{msg.header("Subject").value_or("")};
        if (subject.find("top") != std::string::npos) msg.insert_header(0, "X-Top", "1");
        if (subject.find("middle") != std::string::npos) msg.insert_header(2, "X-Middle", "1");
        if (subject.find("second") != std::string::npos) msg.set_header("X-Change", "changed", 2);
        if (subject.find("delete") != std::string::npos) msg.remove_header("X-Change", 1);
        if (subject.find("append") != std::string::npos) msg.append_header("X-End", "1");
        if (subject.find("same") != std::string::npos) msg.set_header("X-Change", "one");
        if (subject.find("rcpt") != std::string::npos) {
            msg.remove_recipient("<b@example.test>");
            msg.add_recipient("<c@example.test>");
            msg.add_recipient("<d@example.test>", "NOTIFY=NEVER");
        }
        if (subject.find("sender") != std::string::npos) msg.set_sender("<new@example.test>");
        if (subject.find("body") != std::string::npos) msg.replace_body("new body\r\n");
        if (subject.find("reject") != std::string::npos) {
            msg.append_header("X-Never", "sent");
            return cm::reject;
        }
        return cm::next;
    }));
using editor_type = std::remove_cvref_t<decltype(editor)>;

// Exactly the actions of the declared edits; MAIL and RCPT subscribed (the envelope is kept),
// headers and body too, no reply owed for any of them.
static_assert(editor_type::negotiation.actions ==
              (proto::action_set{proto::action::add_headers} | proto::action::change_headers | proto::action::add_rcpt |
               proto::action::add_rcpt_with_args | proto::action::del_rcpt | proto::action::change_from |
               proto::action::change_body));
static_assert(!editor_type::negotiation.protocol.has(proto::protocol::no_mail));
static_assert(!editor_type::negotiation.protocol.has(proto::protocol::no_rcpt));
static_assert(!editor_type::negotiation.protocol.has(proto::protocol::no_headers));
static_assert(!editor_type::negotiation.protocol.has(proto::protocol::no_body));
static_assert(editor_type::negotiation.protocol.has(proto::protocol::no_reply_rcpt));

inline constexpr auto headers_only = cm::milter(cm::on_end_of_message([](cm::editable<cm::edit::headers>& msg) {
    msg.remove_headers("X-Secret");
}));
static_assert(std::remove_cvref_t<decltype(headers_only)>::negotiation.actions ==
              (proto::action_set{proto::action::add_headers} | proto::action::change_headers));
static_assert(std::remove_cvref_t<decltype(headers_only)>::negotiation.protocol.has(proto::protocol::no_body));
// No envelope edit declared: MAIL and RCPT are not even sent.
static_assert(std::remove_cvref_t<decltype(headers_only)>::negotiation.protocol.has(proto::protocol::no_mail));
static_assert(std::remove_cvref_t<decltype(headers_only)>::negotiation.protocol.has(proto::protocol::no_rcpt));

std::string run(cm::testing::harness<editor_type>& h, std::string_view subject) {
    h.mail_from("<a@example.org>");
    h.rcpt("<b@example.test>");
    h.data();
    h.header("From", "a@example.org");
    h.header("X-Change", "one");
    h.header("Subject", subject);
    h.header("X-Change", "two");
    h.end_of_headers();
    h.body("old body\r\n");
    auto a = h.end_of_message().str();
    h.abort();
    return a;
}

} // namespace

BOOST_AUTO_TEST_SUITE(editable)

BOOST_AUTO_TEST_CASE(nothing_edited_nothing_sent) {
    cm::testing::harness h{editor};
    BOOST_TEST(run(h, "plain") == "CONTINUE");
    BOOST_TEST(run(h, "same value") == "CONTINUE"); // set to what it was: no CHGHEADER
}

BOOST_AUTO_TEST_CASE(each_edit_is_one_modification) {
    cm::testing::harness h{editor};
    BOOST_TEST(run(h, "top") == "INSHEADER index=0 name=\"X-Top\" value=\"1\"; CONTINUE");
    // Before the third header the hook saw; Postfix counts its own Received: index 3.
    BOOST_TEST(run(h, "middle") == "INSHEADER index=3 name=\"X-Middle\" value=\"1\"; CONTINUE");
    BOOST_TEST(run(h, "second") == "CHGHEADER index=2 name=\"X-Change\" value=\"changed\"; CONTINUE");
    BOOST_TEST(run(h, "delete") == "CHGHEADER index=1 name=\"X-Change\" value=\"\"; CONTINUE");
    BOOST_TEST(run(h, "append") == "ADDHEADER name=\"X-End\" value=\"1\"; CONTINUE");
    BOOST_TEST(run(h, "rcpt") == "DELRCPT rcpt=\"<b@example.test>\"; ADDRCPT rcpt=\"<c@example.test>\"; "
                                 "ADDRCPT_PAR rcpt=\"<d@example.test>\" args=\"NOTIFY=NEVER\"; CONTINUE");
    BOOST_TEST(run(h, "sender") == "CHGFROM sender=\"<new@example.test>\"; CONTINUE");
    BOOST_TEST(run(h, "body") == "REPLBODY 10 bytes \"new body\\r\\n\"; CONTINUE");
}

BOOST_AUTO_TEST_CASE(edits_combined_keep_their_indexes_right) {
    cm::testing::harness h{editor};
    // Insertions first (into the untouched list), then changes and deletions bottom up, so
    // that no index depends on how the MTA counts deleted headers; appends last.
    BOOST_TEST(run(h, "top second delete append") ==
               "INSHEADER index=0 name=\"X-Top\" value=\"1\"; "
               "CHGHEADER index=2 name=\"X-Change\" value=\"changed\"; "
               "CHGHEADER index=1 name=\"X-Change\" value=\"\"; "
               "ADDHEADER name=\"X-End\" value=\"1\"; CONTINUE");
}

BOOST_AUTO_TEST_CASE(sendmail_shows_its_received_header_so_no_offset) {
    cm::testing::harness h{editor};
    h.macros('C', {{"v", "8.17.1"}});
    BOOST_TEST(run(h, "middle") == "INSHEADER index=2 name=\"X-Middle\" value=\"1\"; CONTINUE");
    cm::testing::harness p{editor};
    p.macros('C', {{"v", "Postfix 3.7.11"}});
    BOOST_TEST(run(p, "middle") == "INSHEADER index=3 name=\"X-Middle\" value=\"1\"; CONTINUE");
}

BOOST_AUTO_TEST_CASE(a_refusal_sends_no_edits_and_the_next_message_starts_clean) {
    cm::testing::harness h{editor};
    BOOST_TEST(run(h, "reject") == "REJECT");
    BOOST_TEST(run(h, "plain") == "CONTINUE");
}

BOOST_AUTO_TEST_CASE(a_recipient_refused_at_rcpt_is_not_in_the_list) {
    static constexpr auto m = cm::milter(
        cm::on_rcpt([](const cm::rcpt& r) -> cm::verdict {
            return r.address == "<no@example.test>" ? cm::verdict{cm::reject} : cm::verdict{cm::next};
        }),
        cm::on_end_of_message([](cm::editable<cm::edit::headers, cm::edit::recipients>& msg) {
            std::string list;
            for (const auto& r : msg.recipients()) list += r.address;
            msg.append_header("X-Rcpts", list);
        }));
    cm::testing::harness h{m};
    h.mail_from("<a@example.org>");
    h.rcpt("<yes@example.test>");
    BOOST_TEST(h.rcpt("<no@example.test>") == "REJECT");
    h.rcpt("<also@example.test>");
    BOOST_TEST(h.end_of_message() == "ADDHEADER name=\"X-Rcpts\" value=\"<yes@example.test><also@example.test>\"; CONTINUE");
}

BOOST_AUTO_TEST_SUITE_END()
