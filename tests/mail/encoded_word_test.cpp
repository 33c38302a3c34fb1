// RFC 2047 encoded words and charsets.
#include <cppmilter/mail/charset.hpp>
#include <cppmilter/mail/encoded_word.hpp>
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

struct charset_sample {
    std::string_view charset;
    std::string_view bytes;
    std::string_view utf8;
};

// A real text in each charset to_utf8() promises, its bytes as the charset encodes it
// (Python's codecs made them; ICU is checked against them).
const charset_sample samples[] = {
    {"UTF-8", "\x47\x72\xC3\xBC\xC3\x9F\x65\x2C\x20\xE4\xB8\x96\xE7\x95\x8C\x20\xF0\x9F\x99\x82", "Grüße, 世界 🙂"},
    {"US-ASCII", "\x70\x6C\x61\x69\x6E\x20\x41\x53\x43\x49\x49\x20\x74\x65\x78\x74", "plain ASCII text"},
    {"ISO-8859-1", "\x47\x72\xFC\xDF\x65\x2C\x20\x63\x61\x66\xE9", "Grüße, café"},
    {"ISO-8859-2", "\x5A\x61\xBF\xF3\xB3\xE6\x20\x67\xEA\xB6\x6C\xB1\x20\x6A\x61\xBC\xF1", "Zażółć gęślą jaźń"},
    {"ISO-8859-3", "\xA1\x61\x62\x69\x62\x20\xF5\x65\x6A\x20\xBF\x67\xB1\x69\x72", "Ħabib ġej żgħir"},
    {"ISO-8859-4", "\xD3\xEF\x6C\x61\x20\xB6\x6F\x74\x69\x20\xB3", "Ķīla ļoti ŗ"},
    {"ISO-8859-5", "\xBF\xE0\xD8\xD2\xD5\xE2\x2C\x20\xDC\xD8\xE0", "Привет, мир"},
    {"ISO-8859-6", "\xE5\xD1\xCD\xC8\xC7", "مرحبا"},
    {"ISO-8859-7", "\xCA\xE1\xEB\xE7\xEC\xDD\xF1\xE1", "Καλημέρα"},
    {"ISO-8859-8", "\xF9\xEC\xE5\xED", "שלום"},
    {"ISO-8859-9", "\xDD\x73\x74\x61\x6E\x62\x75\x6C\x20\xF0\xFD\xFE", "İstanbul ğış"},
    {"ISO-8859-10", "\xAB\xBF\x20\xFF\x20\xF0", "Ŧŋ ĸ ð"},
    {"ISO-8859-11", "\xCA\xC7\xD1\xCA\xB4\xD5", "สวัสดี"},
    {"ISO-8859-13", "\xC0\xE8\xE6\xEB\xE1\xF0\xF8\xFB\xFE\x20\xA5\x78\xA1", "Ąčęėįšųūž „x”"},
    {"ISO-8859-14", "\xD0\xFE\x20\xA2\xB1", "Ŵŷ ḃḟ"},
    {"ISO-8859-15", "\xA4\x20\xBD\x20\xBE", "€ œ Ÿ"},
    {"ISO-8859-16", "\xAA\x74\x69\x69\x6E\xFE\xE3\x20\xBA\x20\xFE\x20\xA4", "Știință ș ț €"},
    {"windows-1250", "\x5A\x61\xBF\xF3\xB3\xE6\x20\x84\x78\x94", "Zażółć „x”"},
    {"windows-1251", "\xCF\xF0\xE8\xE2\xE5\xF2\x2C\x20\xEC\xE8\xF0", "Привет, мир"},
    {"windows-1252", "\x80\x20\x93\x71\x75\x6F\x74\x65\x73\x94\x20\x63\x61\x66\xE9", "€ “quotes” café"},
    {"windows-1253", "\xCA\xE1\xEB\xE7\xEC\xDD\xF1\xE1", "Καλημέρα"},
    {"windows-1254", "\xDD\x73\x74\x61\x6E\x62\x75\x6C", "İstanbul"},
    {"windows-1255", "\xF9\xEC\xE5\xED", "שלום"},
    {"windows-1256", "\xE3\xD1\xCD\xC8\xC7", "مرحبا"},
    {"windows-1257", "\xC0\xE8\xE6\xEB\xE1\xF0\xF8\xFB\xFE", "Ąčęėįšųūž"},
    {"windows-1258", "\xD0\x20\xFD\x20\xF5\x20\xFE", "Đ ư ơ ₫"},
    {"KOI8-R", "\xF0\xD2\xC9\xD7\xC5\xD4\x2C\x20\xCD\xC9\xD2", "Привет, мир"},
    {"KOI8-U", "\xF5\xCB\xD2\xC1\xA7\xCE\xC1\x20\xAD", "Україна ґ"},
    {"ISO-2022-JP", "\x1B\x24\x42\x46\x7C\x4B\x5C\x38\x6C\x24\x4E\x25\x61\x21\x3C\x25\x6B\x1B\x28\x42", "日本語のメール"},
    {"Shift_JIS", "\x93\xFA\x96\x7B\x8C\xEA\x82\xCC\x83\x81\x81\x5B\x83\x8B", "日本語のメール"},
    {"EUC-JP", "\xC6\xFC\xCB\xDC\xB8\xEC\xA4\xCE\xA5\xE1\xA1\xBC\xA5\xEB", "日本語のメール"},
    {"EUC-KR", "\xBE\xC8\xB3\xE7\xC7\xCF\xBC\xBC\xBF\xE4", "안녕하세요"},
    {"GB2312", "\xD6\xD0\xCE\xC4\xD3\xCA\xBC\xFE", "中文邮件"},
    {"GBK", "\xD6\xD0\xCE\xC4\xE0\x5D\xBC\xFE", "中文郵件"},
    {"GB18030", "\xD6\xD0\xCE\xC4\x20\x95\x30\x85\x32", "中文 🙂"},
    {"Big5", "\xA4\xA4\xA4\xE5\xB6\x6C\xA5\xF3", "中文郵件"},
};

// "=?charset?Q?...?=" with every byte escaped: the word a test wants, whatever the bytes.
std::string q_word(std::string_view charset, std::string_view bytes) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string word = "=?" + std::string{charset} + "?Q?";
    for (char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        word += '=';
        word += hex[b >> 4];
        word += hex[b & 15];
    }
    return word + "?=";
}

// Random well-formed UTF-8: ASCII (controls too), Latin, CJK, astral characters.
std::string random_utf8(std::mt19937& random, std::size_t max_characters) {
    std::uniform_int_distribution<std::size_t> length{0, max_characters};
    std::uniform_int_distribution<int> kind{0, 9};
    std::string out;
    for (std::size_t n = length(random); n > 0; --n) {
        char32_t c = 0;
        switch (kind(random)) {
        case 0: c = std::uniform_int_distribution<char32_t>{0, 0x7F}(random); break;
        case 1: c = std::uniform_int_distribution<char32_t>{0x80, 0x7FF}(random); break;
        case 2: c = std::uniform_int_distribution<char32_t>{0x800, 0xD7FF}(random); break;
        case 3: c = std::uniform_int_distribution<char32_t>{0xE000, 0xFFFD}(random); break;
        case 4: c = std::uniform_int_distribution<char32_t>{0x10000, 0x10FFFF}(random); break;
        case 5: out += std::vector<std::string>{"=?", "?=", "=?UTF-8?Q?a?=", "_", "\"", "\\"}[n % 6]; continue;
        default: c = std::uniform_int_distribution<char32_t>{0x20, 0x7E}(random); break;
        }
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else if (c < 0x800) {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out += static_cast<char>(0xE0 | (c >> 12));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (c >> 18));
            out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    return out;
}

std::vector<std::string> encoded_words_of(const std::string& text) {
    std::vector<std::string> words;
    for (auto at = text.find("=?UTF-8?"); at != std::string::npos; at = text.find("=?UTF-8?", at + 1)) {
        const auto end = text.find("?=", at + 10);
        words.push_back(text.substr(at, end + 2 - at));
        at = end;
    }
    return words;
}

// to_utf8() as a printable string, "<unknown>" for an unknown charset.
std::string converted(std::string_view charset, std::string_view bytes) {
    return mail::to_utf8(charset, bytes).value_or("<unknown>");
}

bool is_ascii(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    return true;
}

} // namespace

BOOST_AUTO_TEST_SUITE(encoded_word)

// RFC 2047 §8, every example, verbatim (the header fields unfolded first, as a milter does).
BOOST_AUTO_TEST_CASE(rfc2047_section8_header_examples) {
    BOOST_TEST(mail::decode_unstructured("=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>") ==
               "Keith Moore <moore@cs.utk.edu>");
    BOOST_TEST(mail::decode_unstructured("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>") ==
               "Keld J\xC3\xB8rn Simonsen <keld@dkuug.dk>");
    BOOST_TEST(mail::decode_unstructured("=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>") ==
               "Andr\xC3\xA9 Pirard <PIRARD@vm1.ulg.ac.be>");
    BOOST_TEST(mail::decode_unstructured(mail::unfold("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n"
                                                      "    =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=")) ==
               "If you can read this you understand the example.");
    BOOST_TEST(mail::decode_unstructured("=?ISO-8859-1?Q?Olle_J=E4rnefors?= <ojarnef@admin.kth.se>") ==
               "Olle J\xC3\xA4rnefors <ojarnef@admin.kth.se>");
    BOOST_TEST(mail::decode_unstructured("ietf-822@dimacs.rutgers.edu, ojarnef@admin.kth.se") ==
               "ietf-822@dimacs.rutgers.edu, ojarnef@admin.kth.se");
    BOOST_TEST(mail::decode_unstructured("Time for ISO 10646?") == "Time for ISO 10646?");
    BOOST_TEST(mail::decode_unstructured("Dave Crocker <dcrocker@mordor.stanford.edu>") ==
               "Dave Crocker <dcrocker@mordor.stanford.edu>");
    BOOST_TEST(mail::decode_unstructured("ietf-822@dimacs.rutgers.edu, paf@comsol.se") ==
               "ietf-822@dimacs.rutgers.edu, paf@comsol.se");
    BOOST_TEST(mail::decode_unstructured("=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?= <paf@nada.kth.se>") ==
               "Patrik F\xC3\xA4ltstr\xC3\xB6m <paf@nada.kth.se>");
    BOOST_TEST(mail::decode_unstructured("Re: RFC-HDR care and feeding") == "Re: RFC-HDR care and feeding");
    // The comment in Nathaniel Borenstein's From: field, Hebrew in ISO-8859-8 (visual order).
    BOOST_TEST(mail::decode_unstructured(mail::unfold("Nathaniel Borenstein <nsb@thumper.bellcore.com>\r\n"
                                                      "      (=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)")) ==
               "Nathaniel Borenstein <nsb@thumper.bellcore.com>      ("
               "\xD7\x9D\xD7\x95\xD7\x9C\xD7\xA9 \xD7\x9F\xD7\x91 \xD7\x99\xD7\x9C\xD7\x98\xD7\xA4\xD7\xA0)");
    BOOST_TEST(mail::decode_unstructured("Greg Vaudreuil <gvaudre@NRI.Reston.VA.US>, Ned Freed\r\n"
                                         "   <ned@innosoft.com>, Keith Moore <moore@cs.utk.edu>") ==
               "Greg Vaudreuil <gvaudre@NRI.Reston.VA.US>, Ned Freed\r\n"
               "   <ned@innosoft.com>, Keith Moore <moore@cs.utk.edu>");
    BOOST_TEST(mail::decode_unstructured("Test of new header generator") == "Test of new header generator");
    BOOST_TEST(mail::decode_unstructured("1.0") == "1.0");
    BOOST_TEST(mail::decode_unstructured("text/plain; charset=ISO-8859-1") == "text/plain; charset=ISO-8859-1");
}

// RFC 2047 §8, the table of encoded text and how it displays.
BOOST_AUTO_TEST_CASE(rfc2047_section8_display_table) {
    BOOST_TEST(mail::decode_unstructured("(=?ISO-8859-1?Q?a?=)") == "(a)");
    BOOST_TEST(mail::decode_unstructured("(=?ISO-8859-1?Q?a?= b)") == "(a b)");
    BOOST_TEST(mail::decode_unstructured("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)") == "(ab)");
    BOOST_TEST(mail::decode_unstructured("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)") == "(ab)");
    BOOST_TEST(mail::decode_unstructured("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)") == "(ab)");
    BOOST_TEST(mail::decode_unstructured(mail::unfold("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)")) == "(ab)");
    BOOST_TEST(mail::decode_unstructured("(=?ISO-8859-1?Q?a_b?=)") == "(a b)");
    BOOST_TEST(mail::decode_unstructured("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)") == "(a b)");
}

BOOST_AUTO_TEST_CASE(decoding_details) {
    BOOST_TEST(mail::decode_unstructured("=?utf-8?b?Y2Fmw6k=?=") == "caf\xC3\xA9");
    BOOST_TEST(mail::decode_unstructured("=?UTF-8?B?Y2Fmw6k?=") == "caf\xC3\xA9"); // padding left out
    BOOST_TEST(mail::decode_unstructured("=?utf-8?q?caf=c3=a9?=") == "caf\xC3\xA9");  // lower-case hex
    // RFC 2231 §5 language suffix.
    BOOST_TEST(mail::decode_unstructured("=?US-ASCII*EN?Q?Keith_Moore?=") == "Keith Moore");
    BOOST_TEST(mail::decode_unstructured("=?utf-8*de-CH?B?R3LDvGV6aQ==?=") == "Gr\xC3\xBC" "ezi");
    // A character split across two words (against §5, but mailers do it) is put together.
    BOOST_TEST(mail::decode_unstructured("=?UTF-8?Q?caf=C3?= =?UTF-8?Q?=A9?=") == "caf\xC3\xA9");
    BOOST_TEST(mail::decode_unstructured("=?UTF-8?B?w4?= =?utf-8?Q?=A9?=") == "\xC3\xA9");
    // ISO-2022-JP keeps its shift state from one word to the next.
    BOOST_TEST(mail::decode_unstructured(q_word("ISO-2022-JP", "\x1B$BF|") + " " + q_word("ISO-2022-JP", "K\\\x1B(B")) ==
               "\xE6\x97\xA5\xE6\x9C\xAC");
    // Words over 75 characters and words not set apart by whitespace are decoded anyway.
    const std::string long_word = "=?UTF-8?Q?" + std::string(100, 'x') + "?=";
    BOOST_TEST(mail::decode_unstructured(long_word) == std::string(100, 'x'));
    BOOST_TEST(mail::decode_unstructured("Re:=?UTF-8?Q?caf=C3=A9?=!") == "Re:caf\xC3\xA9!");
    BOOST_TEST(mail::decode_unstructured("=?UTF-8?Q?a?==?UTF-8?Q?b?=") == "ab");
    // Whitespace next to plain text stays, tabs and doubled spaces too.
    BOOST_TEST(mail::decode_unstructured("x \t=?UTF-8?Q?a?=\t y") == "x \ta\t y");
    // Bytes the charset does not define become U+FFFD.
    BOOST_TEST(mail::decode_unstructured("=?utf-8?q?a=FFb?=") == "a\xEF\xBF\xBD" "b");
    BOOST_TEST(mail::decode_unstructured("=?us-ascii?q?a=E9b?=") == "a\xEF\xBF\xBD" "b");
    // Encoded NUL and line breaks decode to what they are.
    BOOST_TEST(mail::decode_unstructured("=?utf-8?q?a=00=0D=0Ab?=") == "a\0\r\nb"s);
}

BOOST_AUTO_TEST_CASE(malformed_words_stay_as_they_are) {
    const std::vector<std::string> malformed = {
        "=?utf-8?q?=ZZ?=",          // bad Q escape
        "=?utf-8?q?abc=?=",          // Q escape cut short
        "=?utf-8?q?abc=4?=",
        "=?utf-8?b?!!!!?=",          // not base64
        "=?utf-8?b?Q?=",             // base64 of impossible length
        "=?utf-8?b?Q=Q=?=",          // padding in the middle
        "=?x-no-such-charset?q?abc?=",
        "=?utf-8?x?abc?=",           // no such encoding
        "=?utf-8?qq?abc?=",
        "=?utf-8?q?abc",             // unterminated
        "=?utf-8?q?abc?",
        "=?utf-8?q?",
        "=??q?abc?=",                // no charset
        "=?*en?q?abc?=",
        "=?utf-8?q?" "?=",           // no text
        "=?utf-8?q?a b?=",           // whitespace inside
        "=?utf 8?q?ab?=",
        "=?utf-8,version=1?q?ab?=",  // ICU converter options are not charset names
        "=?utf.8?q?ab?=",
        "=?", "?=", "=?=", "=?" "?=", "=?a?=", "=?a?q?=", "=?a?q?" "?=",
    };
    for (const auto& word : malformed) {
        BOOST_TEST_INFO(word);
        BOOST_TEST(mail::decode_unstructured(word) == word);
        BOOST_TEST(mail::decode_unstructured("Re: " + word + " x") == "Re: " + word + " x");
    }
    // The whitespace between a malformed word and a good one stays: they are not two encoded words.
    BOOST_TEST(mail::decode_unstructured("=?x-unknown?q?a?= =?utf-8?q?b?=") == "=?x-unknown?q?a?= b");
    BOOST_TEST(mail::decode_unstructured("=?utf-8?q?a?= =?x-unknown?q?b?=") == "a =?x-unknown?q?b?=");
    BOOST_TEST(mail::decode_unstructured("=?utf-8?q?a?= =?x-unknown?q?b?= =?x-unknown?q?c?= =?utf-8?q?d?=") ==
               "a =?x-unknown?q?b?= =?x-unknown?q?c?= d");
    // A good word right after a bad start is still found.
    BOOST_TEST(mail::decode_unstructured("=?=?utf-8?q?a?=") == "=?a");
}

// RFC 6532: UTF-8 and other 8-bit text outside encoded words passes through byte for byte.
BOOST_AUTO_TEST_CASE(plain_text_is_byte_exact) {
    const std::string utf8 = "Gr\xC3\xBC\xC3\x9F" "e \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x99\x82";
    BOOST_TEST(mail::decode_unstructured(utf8) == utf8);
    const std::string latin1 = "caf\xE9 \xFF\xFE\x80";
    BOOST_TEST(mail::decode_unstructured(latin1) == latin1);
    const std::string nul = "a\0b =?\0?q?a?= c"s;
    BOOST_TEST(mail::decode_unstructured(nul) == nul);
    BOOST_TEST(mail::decode_unstructured(utf8 + " =?utf-8?q?x?= " + latin1) == utf8 + " x " + latin1);
    BOOST_TEST(mail::decode_unstructured("") == "");
}

// Display names as the address parser hands them over: quotes and comments taken off.
BOOST_AUTO_TEST_CASE(phrases_decode_through_decode_unstructured) {
    BOOST_TEST(mail::decode_unstructured("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=") == "Keld J\xC3\xB8rn Simonsen");
    BOOST_TEST(mail::decode_unstructured("John =?UTF-8?Q?M=C3=BCller?= Jr.") == "John M\xC3\xBCller Jr.");
    BOOST_TEST(mail::decode_unstructured("=?UTF-8?Q?J=C3=B6rg?= =?UTF-8?Q?_M=C3=BCller?=") == "J\xC3\xB6rg M\xC3\xBCller");
}

BOOST_AUTO_TEST_CASE(every_promised_charset_converts) {
    for (const auto& sample : samples) {
        BOOST_TEST_INFO(sample.charset);
        BOOST_TEST(mail::is_known_charset(sample.charset));
        const auto utf8 = mail::to_utf8(sample.charset, sample.bytes);
        BOOST_TEST_REQUIRE(utf8.has_value());
        BOOST_TEST(*utf8 == sample.utf8);
        // The same through an encoded word, and the name in another case.
        BOOST_TEST(mail::decode_unstructured("S: " + q_word(sample.charset, sample.bytes) + " .") ==
                   "S: " + std::string{sample.utf8} + " .");
        std::string lower{sample.charset};
        for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        BOOST_TEST(converted(lower, sample.bytes) == sample.utf8);
    }
}

BOOST_AUTO_TEST_CASE(charset_aliases) {
    const std::string e_acute = "\xC3\xA9";
    for (const char* latin1 : {"latin1", "ISO_8859-1", "iso8859-1", "l1", "CP819"}) {
        BOOST_TEST_INFO(latin1);
        BOOST_TEST(converted(latin1, "\xE9") == e_acute);
    }
    BOOST_TEST(converted("utf8", "\xC3\xA9") == e_acute);
    BOOST_TEST(converted("cp1252", "\x80") == "\xE2\x82\xAC"s);
    BOOST_TEST(converted("x-sjis", "\x93\xFA") == "\xE6\x97\xA5"s);
    BOOST_TEST(converted("ks_c_5601-1987", "\xBE\xC8") == "\xEC\x95\x88"s);
    BOOST_TEST(converted("TIS-620", "\xCA") == "\xE0\xB8\xAA"s);
    BOOST_TEST(converted("cp866", "\x8F") == "\xD0\x9F"s);
    for (const char* latin10 : {"iso_8859-16", "ISO8859-16", "latin10", "L10", "iso-ir-226"}) {
        BOOST_TEST_INFO(latin10);
        BOOST_TEST(converted(latin10, "\xAA") == "\xC8\x98"s);
    }
    // GB2312 and EUC-KR labels are decoded with the supersets mailers really use.
    BOOST_TEST(converted("gb2312", "\xE0\x5D") == "\xE9\x83\xB5"s); // 郵 is GBK only
    BOOST_TEST(converted("euc-kr", "\x81\x41") == "\xEA\xB0\x82"s); // UHC only
}

BOOST_AUTO_TEST_CASE(unknown_and_invalid) {
    BOOST_TEST(!mail::to_utf8("x-no-such-charset", "abc"));
    BOOST_TEST(!mail::to_utf8("", "abc"));
    BOOST_TEST(!mail::to_utf8("utf-8,version=1", "abc"));
    BOOST_TEST(!mail::to_utf8("../../etc/passwd", "abc"));
    BOOST_TEST(!mail::to_utf8(std::string(100, 'a'), "abc"));
    BOOST_TEST(!mail::is_known_charset("x-no-such-charset"));
    BOOST_TEST(converted("utf-8", "") == ""s);
    BOOST_TEST(converted("utf-8", "a\xC0\x80z") == "a\xEF\xBF\xBD\xEF\xBF\xBDz"s); // overlong
    BOOST_TEST(converted("utf-8", "\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"s); // surrogate
    BOOST_TEST(converted("us-ascii", "a\x80") == "a\xEF\xBF\xBD"s);
    BOOST_TEST(converted("Shift_JIS", "\x93") == "\xEF\xBF\xBD"s); // cut short
    BOOST_TEST(converted("utf-8", "a\0b"s) == "a\0b"s);
    BOOST_TEST(mail::is_valid_utf8("Gr\xC3\xBC\xC3\x9F" "e \xF0\x9F\x99\x82"));
    BOOST_TEST(!mail::is_valid_utf8("\xC3"));
    BOOST_TEST(!mail::is_valid_utf8("\xF4\x90\x80\x80")); // above U+10FFFF
    BOOST_TEST(!mail::is_valid_utf8("\xE0\x80\xAF"));     // overlong
}

BOOST_AUTO_TEST_CASE(encoding) {
    BOOST_TEST(mail::encode_unstructured("Hello, world!") == "Hello, world!");
    BOOST_TEST(mail::encode_unstructured("  tabs\tand  spaces ") == "  tabs\tand  spaces ");
    BOOST_TEST(mail::encode_unstructured("") == "");
    // Q or B, whichever is shorter (a tie goes to Q, which is readable).
    BOOST_TEST(mail::encode_unstructured("Re: \xC3\x84nderungsantrag ok") == "Re: =?UTF-8?Q?=C3=84nderungsantrag?= ok");
    BOOST_TEST(mail::encode_unstructured("caf\xC3\xA9") == "=?UTF-8?B?Y2Fmw6k=?=");
    // Plain words next to encoded ones stay plain; neighbouring words that need encoding
    // go into one run, the space between them inside it.
    BOOST_TEST(mail::encode_unstructured("\xC3\x84nderungsantrag zum Vertrag") == "=?UTF-8?Q?=C3=84nderungsantrag?= zum Vertrag");
    BOOST_TEST(mail::encode_unstructured("J\xC3\xB6rg M\xC3\xBCller") == "=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?=");
    // Mostly non-ASCII: base64 is shorter.
    BOOST_TEST(mail::encode_unstructured("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E") == "=?UTF-8?B?5pel5pys6Kqe?=");
    // ASCII that would read as an encoded word is encoded itself.
    BOOST_TEST(mail::decode_unstructured(mail::encode_unstructured("=?UTF-8?Q?x?=")) == "=?UTF-8?Q?x?=");
    BOOST_TEST(mail::encode_unstructured("a\r\nb") == "=?UTF-8?Q?a=0D=0Ab?=");
}

BOOST_AUTO_TEST_CASE(encoded_words_are_short_and_hold_whole_characters) {
    std::string long_text;
    for (int i = 0; i < 40; ++i) long_text += "\xC3\xA9\xE4\xB8\x96\xF0\x9F\x99\x82 a";
    for (const auto& text : {long_text, std::string(200, '\x01'), "x" + std::string(300, ' ') + "\xC3\xA9"}) {
        const std::string encoded = mail::encode_unstructured(text);
        BOOST_TEST(mail::decode_unstructured(encoded) == text);
        for (const auto& word : encoded_words_of(encoded)) {
            BOOST_TEST(word.size() <= 75u);
            // Each word decodes alone to valid UTF-8: no character split.
            BOOST_TEST(mail::is_valid_utf8(mail::decode_unstructured(word)));
        }
    }
}

BOOST_AUTO_TEST_CASE(phrase_encoding) {
    BOOST_TEST(mail::encode_phrase("John Smith") == "John Smith");
    BOOST_TEST(mail::encode_phrase("Smith, John") == "\"Smith, John\"");
    BOOST_TEST(mail::encode_phrase("Dr. \"Who\" \\o/") == "\"Dr. \\\"Who\\\" \\\\o/\"");
    BOOST_TEST(mail::encode_phrase(" padded ") == "\" padded \"");
    BOOST_TEST(mail::encode_phrase("") == "\"\"");
    BOOST_TEST(mail::encode_phrase("J\xC3\xB6rg M\xC3\xBCller") == "=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?=");
    BOOST_TEST(mail::encode_phrase("John M\xC3\xBCller") == "John =?UTF-8?Q?M=C3=BCller?=");
    // §5(3): only letters, digits and !*+-/ stay literal in a phrase's Q word; words that
    // are not atoms join the encoded run.
    BOOST_TEST(mail::encode_phrase("Dr. \xC3\x84nderungsantrag") == "=?UTF-8?Q?Dr=2E_=C3=84nderungsantrag?=");
    BOOST_TEST(mail::encode_phrase("Dr. \xC3\x84nderungsantrag M\xC3\xBCller-L\xC3\xBC" "denscheidt") ==
               "=?UTF-8?Q?Dr=2E_=C3=84nderungsantrag_M=C3=BCller-L=C3=BCdenscheidt?=");
    BOOST_TEST(mail::encode_phrase("=?x?q?y?=") == "=?UTF-8?B?PT94P3E/eT89?=");
}

// decode(encode(x)) == x for any UTF-8 x; the words are ASCII, at most 75 characters, and
// fold() can break between them.
BOOST_AUTO_TEST_CASE(decode_encode_round_trip_property) {
    std::mt19937 random{20240515};
    for (int round = 0; round < 4000; ++round) {
        const std::string text = random_utf8(random, round % 10 == 0 ? 200 : 30);
        BOOST_TEST_REQUIRE(mail::is_valid_utf8(text));
        const std::string encoded = mail::encode_unstructured(text);
        BOOST_TEST_INFO("round " << round << " [" << text << "] -> [" << encoded << "]");
        BOOST_TEST(mail::decode_unstructured(encoded) == text);
        for (const auto& word : encoded_words_of(encoded)) BOOST_TEST(word.size() <= 75u);
        BOOST_TEST(mail::decode_unstructured(mail::unfold(mail::fold("Subject", encoded))) == text);

        const std::string phrase = mail::encode_phrase(text);
        BOOST_TEST(is_ascii(phrase));
        if (phrase.front() != '"') {
            BOOST_TEST(mail::decode_unstructured(phrase) == text);
            for (const auto& word : encoded_words_of(phrase)) {
                const std::string_view payload{word.data() + 10, word.size() - 12};
                BOOST_TEST(payload.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                     "0123456789!*+-/=_") == std::string_view::npos);
            }
        }
    }
}

// Hostile inputs finish in linear time (no timing assert: quadratic work would time out).
BOOST_AUTO_TEST_CASE(large_inputs) {
    std::string many;
    for (int i = 0; i < 100000; ++i) many += "=?UTF-8?Q?a?= ";
    BOOST_TEST(mail::decode_unstructured(many) == std::string(100000, 'a') + " ");
    std::string alternating;
    for (int i = 0; i < 100000; ++i) alternating += i % 2 ? "=?ISO-8859-1?Q?=E9?= " : "=?UTF-8?Q?a?= ";
    BOOST_TEST(mail::decode_unstructured(alternating).size() == 150001u);
    std::string starts;
    for (int i = 0; i < 50000; ++i) starts += "=?";
    BOOST_TEST(mail::decode_unstructured(starts) == starts);
    const std::string unterminated = "=?utf-8?q?" + std::string(100000, 'a');
    BOOST_TEST(mail::decode_unstructured(unterminated) == unterminated);
    std::string questions;
    for (int i = 0; i < 30000; ++i) questions += "=?a?";
    BOOST_TEST(mail::decode_unstructured(questions) == questions);
    std::string eight_bit(100000, '\xE9');
    for (std::size_t i = 0; i < eight_bit.size(); i += 7) eight_bit[i] = '\0';
    BOOST_TEST(mail::decode_unstructured(eight_bit) == eight_bit);
    BOOST_TEST(mail::decode_unstructured(mail::encode_unstructured(eight_bit)).size() > 0u);
    std::string utf8;
    for (int i = 0; i < 20000; ++i) utf8 += "\xE4\xB8\x96 x ";
    BOOST_TEST(mail::decode_unstructured(mail::encode_unstructured(utf8)) == utf8);
    const std::string big_word = "=?UTF-8?B?" + std::string(100000, 'Q') + "?=";
    BOOST_TEST(mail::decode_unstructured(big_word).size() > 0u);
}

BOOST_AUTO_TEST_SUITE_END()
