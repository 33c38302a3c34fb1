#include <cppmilter/proto.hpp>

#include <boost/test/unit_test.hpp>

#include <sstream>

namespace proto = cppmilter::proto;
using proto::action;
using proto::protocol;

BOOST_AUTO_TEST_SUITE(flags)

BOOST_AUTO_TEST_CASE(values_match_mfdef_h) {
    // PROTOCOL.md §2.3/§2.4, checked there against libmilter's headers.
    BOOST_TEST(proto::action_set{action::add_rcpt_with_args}.bits() == 0x80u);
    BOOST_TEST(proto::protocol_set{protocol::header_leading_space}.bits() == 0x00100000u);
    BOOST_TEST(proto::protocol_set{protocol::no_reply_body}.bits() == 0x00080000u);
    BOOST_TEST(proto::protocol_set{protocol::max_data_size_1m}.bits() == 0x20000000u);
    BOOST_TEST(proto::all_actions.bits() == 0x1FFu);
    BOOST_TEST(proto::all_protocol.bits() == 0x1FFFFFu);
}

BOOST_AUTO_TEST_CASE(print_as_protocol_names) {
    BOOST_TEST(proto::to_string(protocol::no_connect | protocol::no_reply_header) == "NOCONNECT|NR_HDR");
    BOOST_TEST(proto::to_string(proto::protocol_set::from_bits(0x1081)) == "NOCONNECT|NR_HDR|NR_CONN");
    BOOST_TEST(proto::to_string(action::add_headers | action::quarantine) == "ADDHDRS|QUARANTINE");
    BOOST_TEST(proto::to_string(proto::action_set{}) == "0");
    BOOST_TEST(proto::to_string(proto::protocol_set::from_bits(0x40000400)) == "SKIP|0x40000000");
    std::ostringstream os;
    os << proto::v1_actions;
    BOOST_TEST(os.str() == "ADDHDRS|CHGBODY|ADDRCPT|DELRCPT");
}

BOOST_AUTO_TEST_CASE(set_algebra) {
    constexpr auto s = action::add_headers | action::change_body;
    static_assert(s.has(action::change_body) && !s.has(action::add_rcpt));
    static_assert((s - proto::action_set{action::add_headers}) == proto::action_set{action::change_body});
    static_assert(proto::all_actions.contains(s) && !s.contains(proto::all_actions));
    BOOST_TEST((s & proto::v1_actions) == s);
}

BOOST_AUTO_TEST_CASE(names_of_letters_and_stages) {
    BOOST_TEST(*proto::name_of_command('L') == "HEADER");
    BOOST_TEST(*proto::name_of_reply('y') == "REPLYCODE");
    BOOST_TEST(!proto::name_of_command('Z').has_value());
    BOOST_TEST(proto::to_string(proto::macro_stage::end_of_headers) == "end_of_headers");
    BOOST_TEST(proto::macro_letter(proto::macro_stage::end_of_message) == 'E');
    BOOST_TEST(proto::macro_letter(proto::macro_stage::end_of_headers) == 'N');
}

BOOST_AUTO_TEST_CASE(errors_read_as_sentences) {
    proto::error e{proto::errc::missing_nul, 'C', "address"};
    BOOST_TEST(e.message() == "CONNECT: string is not NUL-terminated (field 'address')");
    proto::error o{proto::errc::out_of_order, 'L', "after BODY"};
    BOOST_TEST(o.message() == "HEADER: command out of order (after BODY)");
    proto::error a{proto::errc::actions_not_offered, 'O', "actions", action::change_from | action::quarantine};
    BOOST_TEST(a.message() == "OPTNEG: MTA does not offer required actions (field 'actions'): QUARANTINE|CHGFROM");
    proto::error u{proto::errc::unknown_command, 'Z', {}};
    BOOST_TEST(u.message() == "'Z': unknown command letter");
    std::error_code ec = proto::errc::zero_length;
    BOOST_TEST(ec.category().name() == std::string{"cppmilter.proto"});
    BOOST_TEST(ec.message() == "length field is 0");
}

BOOST_AUTO_TEST_SUITE_END()
