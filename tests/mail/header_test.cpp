// Header fields: unfolding, folding, names (RFC 5322 §2.2, §3.2.2; RFC 6532).
#include <cppmilter/mail/header.hpp>

#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace mail = cppmilter::mail;
using namespace std::string_literals;

namespace {

std::vector<std::string> lines_of(const std::string& folded) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t at = folded.find('\n'); at != std::string::npos; at = folded.find('\n', start)) {
        lines.push_back(folded.substr(start, at - start));
        start = at + 1;
    }
    lines.push_back(folded.substr(start));
    return lines;
}

std::size_t columns(std::string_view line) {
    std::size_t n = 0;
    for (char c : line) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

// Every line of "name: value" fits, or holds one word that alone is too long.
void check_widths(std::string_view name, const std::string& folded, std::size_t width) {
    const auto lines = lines_of(folded);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::size_t indent = i == 0 ? name.size() + 2 : 0;
        const std::string& line = lines[i];
        if (indent + columns(line) <= width) continue;
        const auto first_word = line.find_first_not_of(" \t");
        const auto inner_space = line.find_first_of(" \t", first_word);
        BOOST_TEST_INFO("line " << i << ": [" << line << "]");
        BOOST_TEST((inner_space == std::string::npos || line.find_first_not_of(" \t", inner_space) == std::string::npos));
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(header)

// RFC 5322 §2.2.3: "Subject: This\r\n is a test" unfolds to "Subject: This is a test".
BOOST_AUTO_TEST_CASE(unfold_rfc5322_examples) {
    BOOST_TEST(mail::unfold("This\r\n is a test") == "This is a test");
    // Appendix A.5, the Date field: every fold keeps its whitespace.
    BOOST_TEST(mail::unfold(" Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n"
                            "               -0330 (Newfoundland Time)") ==
               " Thu,      13        Feb          1969      23:32               -0330 (Newfoundland Time)");
    // Appendix A.5, the To field.
    BOOST_TEST(mail::unfold("A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
                            "         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)") ==
               "A Group(Some people)     :Chris Jones <c@(Chris's host.)public.example>,         joe@example.org,"
               "  John <jdoe@one.test> (my dear friend); (the end of the group)");
}

BOOST_AUTO_TEST_CASE(unfold_line_break_forms) {
    BOOST_TEST(mail::unfold("a\n\tb") == "a\tb");     // Postfix hands milters LF
    BOOST_TEST(mail::unfold("a\r\n b") == "a b");
    BOOST_TEST(mail::unfold("a\r b") == "a b");       // a lone CR
    BOOST_TEST(mail::unfold("a\n\n b") == "a\n b");   // only the break before the WSP goes
    BOOST_TEST(mail::unfold("a\r\nb") == "a\r\nb");   // not a fold: kept
    BOOST_TEST(mail::unfold("a\nb") == "a\nb");
    BOOST_TEST(mail::unfold("a\r\n") == "a\r\n");
    BOOST_TEST(mail::unfold("\n b") == " b");
    BOOST_TEST(mail::unfold("a\r\n\r\n b") == "a\r\n b");
    BOOST_TEST(mail::unfold("") == "");
}

// RFC 6532: UTF-8 values, and whatever 8-bit bytes and NULs real mail holds, stay byte-exact.
BOOST_AUTO_TEST_CASE(unfold_keeps_8bit_utf8_and_nul) {
    const std::string utf8 = "Gr\xC3\xBC\xC3\x9F" "e \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x99\x82";
    BOOST_TEST(mail::unfold(utf8) == utf8);
    BOOST_TEST(mail::unfold("Gr\xC3\xBC\n \xC3\x9F" "e") == "Gr\xC3\xBC \xC3\x9F" "e");
    const std::string raw8 = "\xFF\xFE\x80 latin1 caf\xE9"s;
    BOOST_TEST(mail::unfold(raw8) == raw8);
    const std::string with_nul = "a\0b\n\0"s;
    BOOST_TEST(mail::unfold(with_nul) == with_nul);
    BOOST_TEST(mail::unfold("a\0\n b"s) == "a\0 b"s);
}

BOOST_AUTO_TEST_CASE(fold_short_values_unchanged) {
    BOOST_TEST(mail::fold("Subject", "Hello world") == "Hello world");
    BOOST_TEST(mail::fold("Subject", "") == "");
    const std::string exact(78 - 9, 'x'); // "Subject: " + 69 = 78
    BOOST_TEST(mail::fold("Subject", exact + " y") == exact + "\n y");
}

BOOST_AUTO_TEST_CASE(fold_breaks_before_whitespace_at_the_width) {
    const std::string value = "This is a rather long subject line that certainly needs folding somewhere "
                              "because it goes on and on past the seventy-eight columns RFC 5322 recommends";
    const std::string folded = mail::fold("Subject", value);
    BOOST_TEST(folded ==
               "This is a rather long subject line that certainly needs folding\n"
               " somewhere because it goes on and on past the seventy-eight columns RFC 5322\n"
               " recommends");
    BOOST_TEST(mail::unfold(folded) == value);
    check_widths("Subject", folded, 78);
}

BOOST_AUTO_TEST_CASE(fold_line_break_and_width_are_parameters) {
    const std::string folded = mail::fold("X", "aaa bbb\tccc ddd", 10, "\r\n");
    BOOST_TEST(folded == "aaa bbb\r\n\tccc ddd");
    BOOST_TEST(mail::unfold(folded) == "aaa bbb\tccc ddd");
}

BOOST_AUTO_TEST_CASE(fold_keeps_encoded_words_and_long_words_whole) {
    const std::string word(100, 'w');
    const std::string value = "a " + word + " b";
    const std::string folded = mail::fold("Subject", value);
    BOOST_TEST(folded == "a\n " + word + "\n b");
    const std::string encoded = "=?UTF-8?Q?caf=C3=A9_caf=C3=A9_caf=C3=A9_caf=C3=A9_caf=C3=A9_caf=C3=A9_?=";
    const std::string v2 = "Re: " + encoded + " " + encoded;
    const std::string f2 = mail::fold("Subject", v2);
    BOOST_TEST(f2 == "Re:\n " + encoded + "\n " + encoded);
}

BOOST_AUTO_TEST_CASE(fold_avoids_quoted_strings) {
    // The breaks inside the quotes would fit more on the first line; the one before them wins.
    const std::string value = "Re: \"Alpha Beta Gamma\" <a@example.com>";
    BOOST_TEST(mail::fold("To", value, 20) == "Re:\n \"Alpha Beta Gamma\"\n <a@example.com>");
    // No break outside the quotes fits: then one inside is taken.
    const std::string only_quoted = "\"aaaa bbbb cccc dddd eeee ffff gggg hhhh\"";
    const std::string f2 = mail::fold("To", only_quoted, 20);
    BOOST_TEST(mail::unfold(f2) == only_quoted);
    BOOST_TEST(f2 != only_quoted);
    // Escaped quotes do not end the quoted string.
    const std::string escaped = "\"aa \\\" bb cc\" dd";
    BOOST_TEST(mail::fold("To", escaped, 18) == "\"aa \\\" bb cc\"\n dd");
}

BOOST_AUTO_TEST_CASE(fold_never_leaves_blank_lines) {
    BOOST_TEST(mail::fold("S", "a     b", 3) == "a\n     b");
    BOOST_TEST(mail::fold("S", "   ", 1) == "   ");
    BOOST_TEST(mail::fold("S", "abc   ", 2) == "abc   ");
    BOOST_TEST(mail::fold("S", " abc def", 4) == " abc\n def");
}

BOOST_AUTO_TEST_CASE(fold_counts_utf8_characters) {
    // RFC 6532 value: 10 characters "äöüäöüäöüä" are 20 bytes but 10 columns.
    const std::string word = "\xC3\xA4\xC3\xB6\xC3\xBC\xC3\xA4\xC3\xB6\xC3\xBC\xC3\xA4\xC3\xB6\xC3\xBC\xC3\xA4";
    const std::string value = word + " " + word;
    BOOST_TEST(mail::fold("X", value, 24) == value); // 3 + 21 columns
    BOOST_TEST(mail::fold("X", value, 23) == word + "\n " + word);
}

// unfold(fold(v)) == v for any v without CR or LF, and the widths hold.
BOOST_AUTO_TEST_CASE(fold_unfold_round_trip_property) {
    std::mt19937 random{20240514};
    const std::vector<std::string> pieces = {
        "a", "word", "Re:", " ", " ", "  ", "\t", "\"", "\\", "=?UTF-8?Q?caf=C3=A9?=", "=?", "?=",
        "\xC3\xA9", "\xE4\xB8\x96", "\xF0\x9F\x99\x82", "\xFF", std::string(1, '\0'), "(comment)", "<a@b.c>",
        std::string(90, 'L'), ",", "\xC3",
    };
    std::uniform_int_distribution<std::size_t> piece{0, pieces.size() - 1};
    std::uniform_int_distribution<std::size_t> length{0, 60};
    std::uniform_int_distribution<std::size_t> width{1, 100};
    for (int round = 0; round < 4000; ++round) {
        std::string value;
        for (std::size_t n = length(random); n > 0; --n) value += pieces[piece(random)];
        const std::size_t w = round % 4 == 0 ? 78 : width(random);
        const std::string name = round % 3 == 0 ? "Subject" : "X-A-Rather-Long-Header-Name";
        const std::string folded = mail::fold(name, value, w);
        BOOST_TEST_INFO("round " << round << " width " << w << " value [" << value << "]");
        BOOST_TEST(mail::unfold(folded) == value);
        check_widths(name, folded, w);
        BOOST_TEST(mail::unfold(mail::fold(name, value, w, "\r\n")) == value);
    }
}

BOOST_AUTO_TEST_CASE(iequals_is_ascii_case_insensitive) {
    BOOST_TEST(mail::iequals("Subject", "SUBJECT"));
    BOOST_TEST(mail::iequals("content-TYPE", "Content-Type"));
    BOOST_TEST(mail::iequals("", ""));
    BOOST_TEST(!mail::iequals("Subject", "Subjec"));
    BOOST_TEST(!mail::iequals("Subject", "Subjekt"));
    BOOST_TEST(!mail::iequals("\xC3\x84", "\xC3\xA4")); // not Unicode-aware, on purpose
    BOOST_TEST(!mail::iequals("[", "{"));                  // '[' is not 'A' - 'a' away from anything
}

BOOST_AUTO_TEST_CASE(field_view_unfolds_and_decodes) {
    const mail::header_field_view field{"Subject", " =?utf-8?q?caf=C3=A9?=\n\t=?utf-8?q?_bar?= and\r\n more"};
    BOOST_TEST(field.unfolded() == " =?utf-8?q?caf=C3=A9?=\t=?utf-8?q?_bar?= and more");
    BOOST_TEST(field.decoded() == " caf\xC3\xA9 bar and more");
    const mail::header_field_view utf8{"Subject", "Gr\xC3\xBC\xC3\x9F" "e\n aus Z\xC3\xBCrich"};
    BOOST_TEST(utf8.decoded() == "Gr\xC3\xBC\xC3\x9F" "e aus Z\xC3\xBCrich");
}

// Hostile sizes finish in linear time (no timing assert: a quadratic run would time out).
BOOST_AUTO_TEST_CASE(large_inputs) {
    std::string big;
    for (int i = 0; i < 20000; ++i) big += "word\n ";
    BOOST_TEST(big.size() == 120000u);
    const std::string unfolded = mail::unfold(big);
    BOOST_TEST(unfolded.size() == 100000u);
    BOOST_TEST(mail::unfold(mail::fold("Subject", unfolded)) == unfolded);
    const std::string one_word(100000, 'x');
    BOOST_TEST(mail::fold("Subject", one_word) == one_word);
    std::string quotes(100000, ' ');
    for (std::size_t i = 0; i < quotes.size(); i += 2) quotes[i] = '"';
    BOOST_TEST(mail::unfold(mail::fold("Subject", quotes, 10)) == quotes);
    std::string spaces_in_quotes = "\"" + std::string(50000, ' ');
    for (std::size_t i = 1; i < spaces_in_quotes.size(); i += 3) spaces_in_quotes[i] = 'a';
    BOOST_TEST(mail::unfold(mail::fold("Subject", spaces_in_quotes + "\" x")) == spaces_in_quotes + "\" x");
}

BOOST_AUTO_TEST_SUITE_END()
