// The editable message without the DSL: header_list positions and occurrences, and the
// order and indexes of the modifications its diff produces.
#include <cppmilter/mail/message.hpp>

#include <boost/test/unit_test.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace mail = cppmilter::mail;
namespace cm = cppmilter;

namespace {

const std::vector<cm::header_field> received = {
    {"From", "a@example.org"}, {"X-A", "1"}, {"Subject", "hi"}, {"x-a", "2"}, {"X-A", "3"}};

std::string str(const std::vector<cm::proto::reply>& replies) {
    std::ostringstream os;
    for (const auto& r : replies) os << r << "; ";
    return os.str();
}

std::string diff(const mail::header_list& h, mail::mta_dialect d = mail::mta_dialect::postfix) {
    std::vector<cm::proto::reply> out;
    h.diff(d, out);
    return str(out);
}

std::string diff(const mail::message_editor& e) {
    std::vector<cm::proto::reply> out;
    e.diff(mail::mta_dialect::postfix, out);
    return str(out);
}

} // namespace

BOOST_AUTO_TEST_SUITE(message)

BOOST_AUTO_TEST_CASE(positions_and_occurrences) {
    mail::header_list h;
    h.reset(received);
    BOOST_TEST(h.size() == 5u);
    BOOST_TEST(h.count("x-A") == 3u);
    BOOST_TEST(*h.get("X-A", 2) == "2");
    BOOST_TEST(*h.find("X-A", 3) == 4u);
    BOOST_TEST(!h.get("X-A", 4));
    BOOST_TEST(!h.get("X-A", 0));
    BOOST_TEST(h.remove("X-A", 1));
    BOOST_TEST(h.size() == 4u);
    BOOST_TEST(*h.get("X-A", 1) == "2"); // occurrences count what is present now
    BOOST_TEST(h.name(1) == "Subject");
    h.insert(1, "X-New", "n");
    BOOST_TEST(h.name(1) == "X-New");
    BOOST_TEST(h.name(2) == "Subject");
    BOOST_CHECK_THROW(h.insert(7, "X", "y"), std::out_of_range);
    BOOST_CHECK_THROW(h.remove_at(5), std::out_of_range);
    BOOST_TEST(h.remove_all("x-a") == 2u);
    BOOST_TEST(h.size() == 3u);
    h.reset(received); // a new message: everything as the MTA sent it
    BOOST_TEST(h.size() == 5u);
    BOOST_TEST(diff(h) == "");
}

BOOST_AUTO_TEST_CASE(insertions_use_the_untouched_list_and_deletions_go_bottom_up) {
    mail::header_list h;
    h.reset(received);
    h.remove("X-A", 1);         // original X-A #1
    h.insert(0, "Top", "t");    // the very top
    h.insert(3, "Mid", "m");    // before the present header 3 ("x-a" 2)
    h.set("X-A", "three", 2);   // original X-A #3 ("3")
    h.append("End", "e");
    // In the list with nothing deleted yet: Top(0) From(1) X-A(2) Subject(3) Mid(4) x-a X-A.
    // Postfix counts its own Received: Mid goes at 5. Then bottom up: X-A #3 changed, X-A #1
    // deleted (counted before anything above it changed), then End appended.
    BOOST_TEST(diff(h) == "INSHEADER index=0 name=\"Top\" value=\"t\"; INSHEADER index=5 name=\"Mid\" value=\"m\"; "
                          "CHGHEADER index=3 name=\"X-A\" value=\"three\"; CHGHEADER index=1 name=\"X-A\" value=\"\"; "
                          "ADDHEADER name=\"End\" value=\"e\"; ");
    BOOST_TEST(diff(h, mail::mta_dialect::sendmail).find("INSHEADER index=4 name=\"Mid\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_inserted_header_of_the_same_name_counts_in_later_occurrences) {
    mail::header_list h;
    h.reset(received);
    h.insert(0, "X-A", "new");
    h.set("X-A", "changed", 2); // original X-A #1, now the second X-A
    BOOST_TEST(diff(h) == "INSHEADER index=0 name=\"X-A\" value=\"new\"; CHGHEADER index=2 name=\"X-A\" value=\"changed\"; ");
}

BOOST_AUTO_TEST_CASE(added_then_removed_leaves_no_trace) {
    mail::header_list h;
    h.reset(received);
    h.append("X-Tmp", "1");
    h.insert(1, "X-Tmp2", "2");
    BOOST_TEST(h.remove("X-Tmp"));
    BOOST_TEST(h.remove("X-Tmp2"));
    h.set("Subject", "hi"); // the same value: nothing to send
    BOOST_TEST(diff(h) == "");
}

BOOST_AUTO_TEST_CASE(envelope_and_body) {
    mail::message_editor e;
    e.reset(received, "body\r\n");
    e.received_sender("<a@example.org>", "SIZE=10");
    e.recipients().received("<b@Example.TEST>", "");
    e.recipients().received("<c@example.test>", "NOTIFY=NEVER");
    BOOST_TEST(e.recipients().contains("b@example.test")); // domain compared case-insensitively
    BOOST_TEST(!e.recipients().contains("<B@example.test>")); // local part exactly
    e.recipients().add("b@example.test");                      // already there: nothing
    BOOST_TEST(e.recipients().remove("c@EXAMPLE.test"));
    e.recipients().add("d@example.test", "NOTIFY=SUCCESS");
    e.set_sender("<a@example.org>", "SIZE=10"); // unchanged
    e.replace_body("body\r\n");                 // unchanged
    BOOST_TEST(diff(e) ==
               "DELRCPT rcpt=\"<c@example.test>\"; ADDRCPT_PAR rcpt=\"<d@example.test>\" args=\"NOTIFY=SUCCESS\"; ");
    e.set_sender("new@example.org");
    e.replace_body("other\r\n");
    const auto all = diff(e);
    BOOST_TEST(all.find("CHGFROM sender=\"<new@example.org>\"") != std::string::npos);
    BOOST_TEST(all.find("REPLBODY 7 bytes") != std::string::npos);
    BOOST_TEST((mail::dialect_from_version("Postfix 3.7.11") == mail::mta_dialect::postfix));
    BOOST_TEST((mail::dialect_from_version("8.17.1") == mail::mta_dialect::sendmail));
    BOOST_TEST((mail::dialect_from_version(std::nullopt) == mail::mta_dialect::postfix));
}

BOOST_AUTO_TEST_SUITE_END()
