#include <cppmilter/mail/address.hpp>

#include "support/print_optional.hpp"

#include <boost/test/unit_test.hpp>

#include <array>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

// Boost.Test prints the values of a failed check: an ESMTP parameter has no operator<< either.
namespace boost::test_tools::tt_detail {
template <>
struct print_log_value<cppmilter::mail::esmtp_parameter> {
    void operator()(std::ostream& os, const cppmilter::mail::esmtp_parameter& p) {
        os << p.keyword;
        if (p.value) os << '=' << *p.value;
    }
};
} // namespace boost::test_tools::tt_detail

using namespace cppmilter::mail;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

// "display|local@domain" for each mailbox, to compare a whole list in one line.
std::vector<std::string> summary(const address_list_result& r) {
    std::vector<std::string> out;
    for (const mailbox& m : r.mailboxes) out.push_back(m.display_name + "|" + m.local_part + "@" + m.domain);
    return out;
}

address_list_result parse_ok(std::string_view text) {
    address_list_result r = parse_address_list(text);
    BOOST_TEST_INFO("input: " << text);
    BOOST_TEST(!r.error.has_value());
    if (r.error) BOOST_TEST_MESSAGE("error: " << *r.error);
    BOOST_TEST(r.unparsed.empty());
    return r;
}

using names = std::vector<std::string>;

} // namespace

BOOST_AUTO_TEST_SUITE(address)

// ---- RFC 5322 Appendix A, verbatim ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(rfc5322_a_1_1_simple_addressing) {
    BOOST_TEST(summary(parse_ok("John Doe <jdoe@machine.example>")) == names{"John Doe|jdoe@machine.example"});
    BOOST_TEST(summary(parse_ok("Michael Jones <mjones@machine.example>")) ==
               names{"Michael Jones|mjones@machine.example"});
    BOOST_TEST(summary(parse_ok("Mary Smith <mary@example.net>")) == names{"Mary Smith|mary@example.net"});
}

BOOST_AUTO_TEST_CASE(rfc5322_a_1_2_different_types_of_mailboxes) {
    BOOST_TEST(summary(parse_ok("\"Joe Q. Public\" <john.q.public@example.com>")) ==
               names{"Joe Q. Public|john.q.public@example.com"});
    BOOST_TEST(summary(parse_ok("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>")) ==
               (names{"Mary Smith|mary@x.test", "|jdoe@example.org", "Who?|one@y.test"}));
    const auto cc = parse_ok(R"(<boss@nil.test>, "Giant; \"Big\" Box" <sysservices@example.net>)");
    BOOST_TEST(summary(cc) == (names{"|boss@nil.test", R"(Giant; "Big" Box|sysservices@example.net)"}));
    BOOST_TEST(cc.mailboxes[1].raw == R"("Giant; \"Big\" Box" <sysservices@example.net>)");
}

BOOST_AUTO_TEST_CASE(rfc5322_a_1_3_group_addresses) {
    BOOST_TEST(summary(parse_ok("Pete <pete@silly.example>")) == names{"Pete|pete@silly.example"});
    const auto to = parse_ok("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;");
    BOOST_TEST(summary(to) == (names{"Ed Jones|c@a.test", "|joe@where.test", "John|jdoe@one.test"}));
    BOOST_TEST_REQUIRE(to.groups.size() == 1u);
    BOOST_TEST(to.groups[0].display_name == "A Group");
    BOOST_TEST(to.groups[0].first == 0u);
    BOOST_TEST(to.groups[0].size == 3u);
    for (const mailbox& m : to.mailboxes) BOOST_TEST(m.group == std::optional<std::size_t>{0});

    const auto cc = parse_ok("Undisclosed recipients:;");
    BOOST_TEST(cc.mailboxes.empty());
    BOOST_TEST_REQUIRE(cc.groups.size() == 1u);
    BOOST_TEST(cc.groups[0].display_name == "Undisclosed recipients");
    BOOST_TEST(cc.groups[0].size == 0u);
}

BOOST_AUTO_TEST_CASE(rfc5322_a_2_and_a_3_reply_and_resent) {
    BOOST_TEST(summary(parse_ok("\"Mary Smith: Personal Account\" <smith@home.example>")) ==
               names{"Mary Smith: Personal Account|smith@home.example"});
    BOOST_TEST(summary(parse_ok("Jane Brown <j-brown@other.example>")) == names{"Jane Brown|j-brown@other.example"});
}

BOOST_AUTO_TEST_CASE(rfc5322_a_4_trace_fields) {
    BOOST_TEST(summary(parse_ok("John Doe <jdoe@node.example>")) == names{"John Doe|jdoe@node.example"});
    BOOST_TEST(summary(parse_ok("Mary Smith <mary@example.net>")) == names{"Mary Smith|mary@example.net"});
}

BOOST_AUTO_TEST_CASE(rfc5322_a_5_white_space_comments_and_other_oddities) {
    const auto from = parse_ok(R"(Pete(A nice \) chap) <pete(his account)@silly.test(his host)>)");
    BOOST_TEST(summary(from) == names{"Pete|pete@silly.test"});
    BOOST_TEST(from.mailboxes[0].raw == R"(Pete(A nice \) chap) <pete(his account)@silly.test(his host)>)");
    BOOST_TEST(from.mailboxes[0].raw_local_part == "pete");

    const auto to = parse_ok("A Group(Some people)\r\n"
                             "     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
                             "         joe@example.org,\r\n"
                             "  John <jdoe@one.test> (my dear friend); (the end of the group)");
    BOOST_TEST(summary(to) ==
               (names{"Chris Jones|c@public.example", "|joe@example.org", "John|jdoe@one.test"}));
    BOOST_TEST_REQUIRE(to.groups.size() == 1u);
    BOOST_TEST(to.groups[0].display_name == "A Group");
    BOOST_TEST(to.groups[0].size == 3u);

    const auto cc = parse_ok("(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;");
    BOOST_TEST(cc.mailboxes.empty());
    BOOST_TEST_REQUIRE(cc.groups.size() == 1u);
    BOOST_TEST(cc.groups[0].display_name == "Hidden recipients");
}

BOOST_AUTO_TEST_CASE(rfc5322_a_6_1_obsolete_addressing) {
    BOOST_TEST(summary(parse_ok("Joe Q. Public <john.q.public@example.com>")) ==
               names{"Joe Q. Public|john.q.public@example.com"});
    const auto to = parse_ok("Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example");
    BOOST_TEST(summary(to) == (names{"Mary Smith|mary@example.net", "|jdoe@test.example"}));
    BOOST_TEST(to.mailboxes[0].route == names{"node.test"});
    BOOST_TEST(to.mailboxes[1].raw == "jdoe@test  . example");
}

BOOST_AUTO_TEST_CASE(rfc5322_a_6_2_obsolete_dates_message) {
    BOOST_TEST(summary(parse_ok("John Doe <jdoe@machine.example>")) == names{"John Doe|jdoe@machine.example"});
    BOOST_TEST(summary(parse_ok("Mary Smith <mary@example.net>")) == names{"Mary Smith|mary@example.net"});
}

BOOST_AUTO_TEST_CASE(rfc5322_a_6_3_obsolete_white_space_and_comments) {
    BOOST_TEST(summary(parse_ok(" John Doe <jdoe@machine(comment).  example>")) ==
               names{"John Doe|jdoe@machine.example"});
    BOOST_TEST(summary(parse_ok(" Mary Smith\r\n  \r\n          <mary@example.net>")) ==
               names{"Mary Smith|mary@example.net"});
}

// ---- Other forms -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(quoted_local_parts_keep_raw_and_semantic_values) {
    const auto r = parse_ok(R"("john \"jd\" doe"@example.com, "a b".c@example.com)");
    BOOST_TEST_REQUIRE(r.mailboxes.size() == 2u);
    BOOST_TEST(r.mailboxes[0].local_part == R"(john "jd" doe)");
    BOOST_TEST(r.mailboxes[0].raw_local_part == R"("john \"jd\" doe")");
    BOOST_TEST(r.mailboxes[0].address() == R"("john \"jd\" doe"@example.com)");
    BOOST_TEST(r.mailboxes[1].local_part == "a b.c");
    BOOST_TEST(r.mailboxes[1].address() == R"("a b.c"@example.com)");
}

BOOST_AUTO_TEST_CASE(obsolete_local_part_with_spaces_and_comments) {
    const auto r = parse_ok("John (middle) . Doe @ example . com");
    BOOST_TEST(summary(r) == names{"|John.Doe@example.com"});
    BOOST_TEST(r.mailboxes[0].raw_local_part == "John (middle) . Doe");
    BOOST_TEST(r.mailboxes[0].address() == "John.Doe@example.com");
}

BOOST_AUTO_TEST_CASE(dots_anywhere_in_an_unquoted_local_part_are_tolerated) {
    const auto r = parse_ok("john..doe@example.jp, john.@example.jp");
    BOOST_TEST(summary(r) == (names{"|john..doe@example.jp", "|john.@example.jp"}));
    BOOST_TEST(r.mailboxes[1].address() == R"("john."@example.jp)");
}

BOOST_AUTO_TEST_CASE(obsolete_routes_with_several_domains) {
    const auto r = parse_ok("<@a.example,@b.example:x@y.example>, Z <,@c.example:z@w.example>");
    BOOST_TEST(summary(r) == (names{"|x@y.example", "Z|z@w.example"}));
    BOOST_TEST(r.mailboxes[0].route == (names{"a.example", "b.example"}));
    BOOST_TEST(r.mailboxes[1].route == names{"c.example"});
}

BOOST_AUTO_TEST_CASE(null_members_and_missing_commas) {
    BOOST_TEST(summary(parse_ok("a@b,,c@d")) == (names{"|a@b", "|c@d"}));
    BOOST_TEST(summary(parse_ok(", ,a@b, ,")) == names{"|a@b"});
    BOOST_TEST(summary(parse_ok("<a@b> <c@d>")) == (names{"|a@b", "|c@d"}));
    BOOST_TEST(summary(parse_ok("a@b c@d")) == (names{"|a@b", "|c@d"}));
    BOOST_TEST(summary(parse_ok("A <a@b> B <c@d>")) == (names{"A|a@b", "B|c@d"}));
    BOOST_TEST(summary(parse_ok("G: ,a@b,,c@d,;")) == (names{"|a@b", "|c@d"}));
}

BOOST_AUTO_TEST_CASE(several_groups_and_mailboxes_mixed) {
    const auto r = parse_ok("x@y, G1: a@b;, H@i, G2:;, G3: c@d, e@f;");
    BOOST_TEST(summary(r) == (names{"|x@y", "|a@b", "|H@i", "|c@d", "|e@f"}));
    BOOST_TEST_REQUIRE(r.groups.size() == 3u);
    BOOST_TEST(r.mailboxes[0].group == std::nullopt);
    BOOST_TEST(r.mailboxes[1].group == std::optional<std::size_t>{0});
    BOOST_TEST(r.mailboxes[2].group == std::nullopt);
    BOOST_TEST(r.groups[1].size == 0u);
    BOOST_TEST(r.groups[1].first == 3u);
    BOOST_TEST(r.groups[2].first == 3u);
    BOOST_TEST(r.groups[2].size == 2u);
    BOOST_TEST(r.mailboxes[4].group == std::optional<std::size_t>{2});
}

BOOST_AUTO_TEST_CASE(domain_literals) {
    const auto r = parse_ok("a@[192.0.2.1], B <b@[IPv6:2001:db8::1]>, c@[ 198.51.100.7 ]");
    BOOST_TEST(summary(r) ==
               (names{"|a@[192.0.2.1]", "B|b@[IPv6:2001:db8::1]", "|c@[198.51.100.7]"}));
}

BOOST_AUTO_TEST_CASE(rfc6532_utf8_addresses) {
    const auto r = parse_ok("Jörg Müller <jörg@bücher.example>, \"Ωμέγα Δ.\" <δοκιμή@παράδειγμα.δοκιμή>, "
                            "用户@例子.广告, аджай@экзампл.рус");
    BOOST_TEST(summary(r) == (names{"Jörg Müller|jörg@bücher.example", "Ωμέγα Δ.|δοκιμή@παράδειγμα.δοκιμή",
                                    "|用户@例子.广告", "|аджай@экзампл.рус"}));
    BOOST_TEST(r.mailboxes[2].address() == "用户@例子.广告");
}

BOOST_AUTO_TEST_CASE(encoded_words_in_display_names_are_decoded) {
    const auto r = parse_ok("=?UTF-8?Q?J=C3=B6rg?= <j@example.com>, =?ISO-8859-1?Q?Andr=E9?= Pirard "
                            "<PIRARD@vm1.ulg.ac.be>, G =?utf-8?b?w5w=?=: x@y;");
    BOOST_TEST(summary(r) == (names{"Jörg|j@example.com", "André Pirard|PIRARD@vm1.ulg.ac.be", "|x@y"}));
    BOOST_TEST_REQUIRE(r.groups.size() == 1u);
    BOOST_TEST(r.groups[0].display_name == "G Ü");
    // Adjacent encoded words join without the space between them (RFC 2047 §6.2).
    BOOST_TEST(parse_ok("=?utf-8?q?a?= =?utf-8?q?b?= <a@b>").mailboxes[0].display_name == "ab");
}

BOOST_AUTO_TEST_CASE(quoted_display_names_unfold) {
    const auto r = parse_ok("\"Folded\r\n name\" <a@b>");
    BOOST_TEST(r.mailboxes[0].display_name == "Folded name");
}

BOOST_AUTO_TEST_CASE(positions_point_into_the_text) {
    const std::string_view text = "  a@b ,\t Name <c@d> (x)";
    const auto r = parse_ok(text);
    BOOST_TEST_REQUIRE(r.mailboxes.size() == 2u);
    for (const mailbox& m : r.mailboxes) BOOST_TEST(text.substr(m.position, m.raw.size()) == m.raw);
    BOOST_TEST(r.mailboxes[0].raw == "a@b");
    BOOST_TEST(r.mailboxes[1].raw == "Name <c@d>");
}

// ---- Errors: best effort, first error reported -------------------------------------------

BOOST_AUTO_TEST_CASE(errors_keep_the_rest_of_the_list) {
    const auto r = parse_address_list("a@b, \"broken <x@y>, c@d");
    BOOST_TEST(summary(r) == names{"|a@b"});
    BOOST_TEST_REQUIRE(r.error.has_value());
    BOOST_TEST(r.error->code == address_errc::unterminated_quoted_string);
    BOOST_TEST(r.error->position == 5u);
    BOOST_TEST(r.unparsed == names{"\"broken <x@y>, c@d"});

    const auto s = parse_address_list("a@b, Joe <x@y, c@d");
    BOOST_TEST(s.error->code == address_errc::unexpected_character);

    const auto t = parse_address_list("postmaster, c@d");
    BOOST_TEST(summary(t) == names{"|c@d"});
    BOOST_TEST(t.error->code == address_errc::missing_at);
    BOOST_TEST(t.unparsed == names{"postmaster"});
}

BOOST_AUTO_TEST_CASE(each_error_kind) {
    struct bad {
        std::string_view text;
        address_errc code;
        std::size_t position;
    };
    const std::array cases{
        bad{"\"abc", address_errc::unterminated_quoted_string, 0},
        bad{"a@b (comment", address_errc::unterminated_comment, 4},
        bad{"x <a@b", address_errc::unterminated_angle_addr, 2},
        bad{"<a@b c>", address_errc::unexpected_character, 5},
        bad{"a@[1.2.3.4", address_errc::unterminated_domain_literal, 2},
        bad{"G: a@b", address_errc::unterminated_group, 1},
        bad{"G: H: a@b;;", address_errc::nested_group, 4},
        bad{"John Doe", address_errc::missing_at, 8},
        bad{"<john>", address_errc::missing_at, 5},
        bad{"John Doe@example.com", address_errc::invalid_local_part, 5},
        bad{"@example.com", address_errc::invalid_local_part, 0},
        bad{"a@", address_errc::invalid_domain, 2},
        bad{"a@b.", address_errc::invalid_domain, 4},
        bad{"a@\"b\"", address_errc::invalid_domain, 2},
        bad{"<@a.example x@y>", address_errc::invalid_route, 12},
        bad{"<@a.example", address_errc::unterminated_angle_addr, 0},
        bad{"a@b, >", address_errc::unexpected_character, 5},
        bad{"<>", address_errc::empty_angle_addr, 0},
        bad{std::string_view{"a\0b@c", 5}, address_errc::unexpected_character, 1},
        bad{std::string_view{"\"a\0\"@c", 6}, address_errc::unexpected_character, 2},
    };
    for (const bad& c : cases) {
        BOOST_TEST_INFO("input: " << c.text);
        const auto r = parse_address_list(c.text);
        BOOST_TEST_REQUIRE(r.error.has_value());
        BOOST_TEST(r.error->code == c.code);
        BOOST_TEST(r.error->position == c.position);
    }
    // Unterminated group: members kept.
    const auto g = parse_address_list("G: a@b, c@d");
    BOOST_TEST(summary(g) == (names{"|a@b", "|c@d"}));
    BOOST_TEST(g.groups.size() == 1u);
}

BOOST_AUTO_TEST_CASE(error_messages_name_the_place) {
    const auto r = parse_address_list("a@b, \"x");
    BOOST_TEST(r.error->message() == "unterminated quoted string at offset 5");
    std::ostringstream os;
    os << *r.error;
    BOOST_TEST(os.str() == r.error->message());
}

BOOST_AUTO_TEST_CASE(hostile_inputs_finish) {
    // 100,000 nested comments, closed and not.
    const std::string open(100'000, '('), close(100'000, ')');
    BOOST_TEST(summary(parse_ok("a@b " + open + close + ", c@d")) == (names{"|a@b", "|c@d"}));
    const auto unclosed = parse_address_list("a@b, " + open + "c@d");
    BOOST_TEST(unclosed.error->code == address_errc::unterminated_comment);
    BOOST_TEST(summary(unclosed) == names{"|a@b"});

    // 10,000 addresses in a 100 KB+ field.
    std::string many;
    for (int i = 0; i < 10'000; ++i) many += "User " + std::to_string(i) + " <u" + std::to_string(i) + "@example.com>, ";
    BOOST_TEST(many.size() > 100'000u);
    const auto list = parse_ok(many);
    BOOST_TEST(list.mailboxes.size() == 10'000u);
    BOOST_TEST(list.mailboxes[9'999].address() == "u9999@example.com");

    // Unterminated quotes, angle brackets and literals, each 100 KB long.
    for (const char c : {'"', '<', '['}) {
        const std::string text = "a@b, " + std::string(1, c) + std::string(100'000, 'x');
        const auto r = parse_address_list(c == '[' ? "a@b, x@" + text.substr(5) : text);
        BOOST_TEST(r.error.has_value());
        BOOST_TEST(r.mailboxes.size() == 1u);
    }
    // 100 KB of separators, dots, brackets, 8-bit garbage and NULs.
    for (const std::string_view unit : {","sv, "."sv, "<"sv, ">"sv, "@"sv, ":"sv, ";"sv, "\xff\xfe"sv, "\0"sv,
                                        "\\"sv, ")"sv, "<@,"sv, "a@"sv, "G:"sv, "\"a\" "sv}) {
        std::string text;
        while (text.size() < 100'000) text += unit;
        const auto r = parse_address_list(text);
        BOOST_TEST(r.mailboxes.size() <= text.size());
    }
    std::string garbage;
    for (int i = 0; i < 100'000; ++i) garbage += static_cast<char>((i * 7919) % 256);
    (void)parse_address_list(garbage);
}

// ---- parse_mailbox -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(parse_mailbox_wants_exactly_one) {
    const auto one = parse_mailbox("John Doe <jdoe@machine.example>");
    BOOST_TEST(one.ok());
    BOOST_TEST(one.value->address() == "jdoe@machine.example");

    const auto none = parse_mailbox("Undisclosed recipients:;");
    BOOST_TEST(!none.ok());
    BOOST_TEST(none.error->code == address_errc::no_mailbox);
    BOOST_TEST(parse_mailbox("").error->code == address_errc::no_mailbox);

    const auto two = parse_mailbox("a@b, c@d");
    BOOST_TEST(!two.ok());
    BOOST_TEST(two.error->code == address_errc::several_mailboxes);
    BOOST_TEST(two.error->position == 5u);
    BOOST_TEST(two.value->address() == "a@b"); // best effort: the first

    const auto bad = parse_mailbox("a@b (");
    BOOST_TEST(bad.error->code == address_errc::unterminated_comment);
    BOOST_TEST(bad.value->address() == "a@b");
}

// ---- RFC 5321 paths ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(envelope_paths) {
    const auto plain = parse_path("<a@example.com>");
    BOOST_TEST_REQUIRE(plain.ok());
    BOOST_TEST(!plain.value->null);
    BOOST_TEST(plain.value->local == "a");
    BOOST_TEST(plain.value->domain == "example.com");

    const auto null = parse_path("<>");
    BOOST_TEST_REQUIRE(null.ok());
    BOOST_TEST(null.value->null);
    BOOST_TEST(null.value->address() == "");

    const auto routed = parse_path("<@r1.example,@r2.example:a@b.example>");
    BOOST_TEST_REQUIRE(routed.ok());
    BOOST_TEST(routed.value->route == (names{"r1.example", "r2.example"}));
    BOOST_TEST(routed.value->address() == "a@b.example");

    const auto quoted = parse_path(R"(<"a b\"c"@example.com>)");
    BOOST_TEST_REQUIRE(quoted.ok());
    BOOST_TEST(quoted.value->local == "a b\"c");
    BOOST_TEST(quoted.value->address() == R"("a b\"c"@example.com)");

    const auto bare = parse_path(" a@b.example ");
    BOOST_TEST_REQUIRE(bare.ok());
    BOOST_TEST(bare.value->address() == "a@b.example");

    for (const std::string_view pm : {"<postmaster>", "<Postmaster>", "POSTMASTER"}) {
        const auto p = parse_path(pm);
        BOOST_TEST_REQUIRE(p.ok());
        BOOST_TEST(p.value->domain.empty());
        BOOST_TEST(p.value->address() == p.value->local);
    }

    const auto literal = parse_path("<a@[IPv6:2001:db8::1]>");
    BOOST_TEST_REQUIRE(literal.ok());
    BOOST_TEST(literal.value->domain == "[IPv6:2001:db8::1]");

    const auto utf8 = parse_path("<用户@例子.广告>"); // RFC 6531
    BOOST_TEST_REQUIRE(utf8.ok());
    BOOST_TEST(utf8.value->local == "用户");
    BOOST_TEST(utf8.value->domain == "例子.广告");
    BOOST_TEST(parse_path("<a.b+tag@Sub.Example.COM>").value->domain == "Sub.Example.COM");
}

BOOST_AUTO_TEST_CASE(bad_envelope_paths) {
    struct bad {
        std::string_view text;
        address_errc code;
        std::size_t position;
    };
    const std::array cases{
        bad{"", address_errc::missing_at, 0},
        bad{"<a@b", address_errc::unterminated_angle_addr, 0},
        bad{"<a@b> x", address_errc::trailing_text, 5},
        bad{"<user>", address_errc::missing_at, 5},
        bad{"<@r1:user>", address_errc::missing_at, 9},
        bad{"<@r1 a@b>", address_errc::invalid_route, 4},
        bad{"<a@>", address_errc::invalid_domain, 3},
        bad{"<a@b..c>", address_errc::invalid_domain, 5},
        bad{"<a@b.>", address_errc::invalid_domain, 5},
        bad{"<\"a@b>", address_errc::unterminated_quoted_string, 1},
        bad{"<a b@c>", address_errc::missing_at, 2},
        bad{"<a@[1.2.3.4>", address_errc::unterminated_domain_literal, 3},
        bad{"  <a@b c>", address_errc::unexpected_character, 6},
        bad{"<(x)a@b>", address_errc::invalid_local_part, 1},
        bad{std::string_view{"<a\0@b>", 6}, address_errc::missing_at, 2},
    };
    for (const bad& c : cases) {
        BOOST_TEST_INFO("input: " << c.text);
        const auto r = parse_path(c.text);
        BOOST_TEST(!r.ok());
        BOOST_TEST_REQUIRE(r.error.has_value());
        BOOST_TEST(r.error->code == c.code);
        BOOST_TEST(r.error->position == c.position);
    }
}

// ---- ESMTP parameters --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(esmtp_parameters) {
    const std::array<std::string_view, 5> args{"SIZE=1000", "body=8BITMIME", "SMTPUTF8", "ORCPT=rfc822;a+2Bb@c",
                                               "Notify=SUCCESS,FAILURE"};
    const auto r = parse_esmtp_parameters(args);
    BOOST_TEST(r.ok());
    BOOST_TEST_REQUIRE(r.parameters.size() == 5u);
    BOOST_TEST(r.parameters[0] == (esmtp_parameter{"SIZE", "1000"}));
    BOOST_TEST(r.parameters[1] == (esmtp_parameter{"BODY", "8BITMIME"}));
    BOOST_TEST(r.parameters[2] == (esmtp_parameter{"SMTPUTF8", std::nullopt}));
    BOOST_TEST(r.find("orcpt")->value == "rfc822;a+2Bb@c");
    BOOST_TEST(decode_xtext(*r.find("ORCPT")->value) == "rfc822;a+b@c");
    BOOST_TEST(r.find("NOTIFY")->value == "SUCCESS,FAILURE");
    BOOST_TEST(r.find("RET") == nullptr);
}

BOOST_AUTO_TEST_CASE(bad_esmtp_parameters_are_skipped) {
    const std::array<std::string_view, 6> args{"SIZE=", "=1", "-X=1", "A B=1", "SIZE=1 0", "RET=HDRS"};
    const auto r = parse_esmtp_parameters(args);
    BOOST_TEST_REQUIRE(r.error.has_value());
    BOOST_TEST(r.error->code == address_errc::invalid_esmtp_value);
    BOOST_TEST(r.error->position == 0u);
    BOOST_TEST_REQUIRE(r.parameters.size() == 1u);
    BOOST_TEST(r.parameters[0].keyword == "RET");
    BOOST_TEST(parse_esmtp_parameters(std::span<const std::string_view>{}).ok());
}

BOOST_AUTO_TEST_CASE(xtext) {
    BOOST_TEST(decode_xtext("a+2Bb+3Dc+20") == "a+b=c ");
    BOOST_TEST(decode_xtext("+2b") == "+"); // hex digits in either case (RFC 5234 strings)
    BOOST_TEST(decode_xtext("") == "");
    BOOST_TEST(!decode_xtext("a+2").has_value());
    BOOST_TEST(!decode_xtext("a+").has_value());
    BOOST_TEST(!decode_xtext("a+GG").has_value());
    BOOST_TEST(!decode_xtext("a b").has_value());
    BOOST_TEST(!decode_xtext("a=b").has_value());
    BOOST_TEST(encode_xtext("a+b=c d\xc3\xa9") == "a+2Bb+3Dc+20d+C3+A9");
    const std::string all = [] {
        std::string s;
        for (int i = 0; i < 256; ++i) s += static_cast<char>(i);
        return s;
    }();
    BOOST_TEST(decode_xtext(encode_xtext(all)) == all);
}

BOOST_AUTO_TEST_SUITE_END()
