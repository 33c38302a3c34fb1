// Fuzz target, the message toolkit's text functions: arbitrary bytes as a header value, an
// encoded word's charset and payload, and UTF-8 text to encode. Besides "no crash, no UB, no
// leak", it checks:
//  - unfold(fold(name, v, width)) == v for v without CR or LF, whatever the width;
//  - decode_unstructured() keeps text without "=?" byte for byte, and keeps valid UTF-8 valid;
//  - to_utf8() always yields valid UTF-8, for every charset;
//  - for valid UTF-8 x: decode_unstructured(encode_unstructured(x)) == x, the encoding is
//    ASCII in encoded words of at most 75 characters, and it survives fold() → unfold();
//    an unquoted encode_phrase(x) decodes back to x too.
//
// Input layout (missing bytes read as 0):
//   [0]  fold width (0 means 78)
//   [1]  charset for to_utf8(), an index into `charsets` below
//   ...  the text
#include "fuzz_common.hpp"

#include <cppmilter/mail/charset.hpp>
#include <cppmilter/mail/encoded_word.hpp>
#include <cppmilter/mail/header.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace mail = cppmilter::mail;
using cppmilter::fuzz::require;

namespace {

constexpr std::string_view charsets[] = {
    "UTF-8",       "US-ASCII",  "ISO-8859-1",  "ISO-8859-2", "ISO-8859-7", "ISO-8859-16", "windows-1252",
    "windows-1258", "KOI8-R",   "ISO-2022-JP", "Shift_JIS",  "EUC-JP",     "EUC-KR",      "GB2312",
    "GBK",         "GB18030",   "Big5",        "UTF-16",     "UTF-7",      "x-unknown",   "utf-8,version=1",
};

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

void check_fold(std::string_view text, std::size_t width) {
    std::string value{text};
    std::replace(value.begin(), value.end(), '\r', ' ');
    std::replace(value.begin(), value.end(), '\n', '\t');
    require(mail::unfold(mail::fold("Subject", value, width)) == value, "unfold(fold(v)) == v");
    require(mail::unfold(mail::fold("", value, width, "\r\n")) == value, "unfold(fold(v, CRLF)) == v");
}

void check_decode(std::string_view text) {
    const std::string decoded = mail::decode_unstructured(text);
    if (text.find("=?") == std::string_view::npos) require(decoded == text, "text without words passes through");
    if (mail::is_valid_utf8(text)) require(mail::is_valid_utf8(decoded), "valid UTF-8 stays valid when decoded");
    (void)mail::decode_unstructured(mail::unfold(text));
}

void check_encode(const std::string& utf8, std::size_t width) {
    const std::string encoded = mail::encode_unstructured(utf8);
    require(is_ascii(encoded), "encode_unstructured() yields ASCII");
    require(mail::decode_unstructured(encoded) == utf8, "decode(encode(x)) == x");
    for (auto at = encoded.find("=?UTF-8?"); at != std::string::npos; at = encoded.find("=?UTF-8?", at + 1)) {
        const auto end = encoded.find("?=", at + 10);
        require(end != std::string::npos && end + 2 - at <= 75, "encoded words are at most 75 characters");
        at = end;
    }
    require(mail::decode_unstructured(mail::unfold(mail::fold("Subject", encoded, width))) == utf8,
            "decode(unfold(fold(encode(x)))) == x");

    const std::string phrase = mail::encode_phrase(utf8);
    require(is_ascii(phrase), "encode_phrase() yields ASCII");
    if (phrase.empty() || phrase.front() != '"') require(mail::decode_unstructured(phrase) == utf8, "phrase round trip");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    cppmilter::fuzz::input in{data, size};
    const std::size_t width = in.byte();
    const std::string_view charset = charsets[in.byte() % std::size(charsets)];
    const std::string_view text = in.rest();

    (void)mail::unfold(text);
    check_fold(text, width == 0 ? 78 : width);
    check_decode(text);

    const auto converted = mail::to_utf8(charset, text);
    if (converted) require(mail::is_valid_utf8(*converted), "to_utf8() yields valid UTF-8");
    const auto utf8 = mail::to_utf8("UTF-8", text);
    require(utf8.has_value(), "UTF-8 is always known");
    check_encode(*utf8, width == 0 ? 78 : width);
    return 0;
}
