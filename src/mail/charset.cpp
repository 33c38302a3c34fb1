// Charsets through ICU's converters (libicuuc only); cmake/mail_charset.cmake says why ICU
// and which data it embeds.
#include <cppmilter/mail/charset.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <unicode/ucnv.h>
#include <unicode/ucnv_cb.h>
#include <unicode/udata.h>

// ICU's data package, embedded by the generated icu_data.cpp (cmake/mail_charset.cmake).
// Naming it here makes the linker take that object out of the static library before it
// reaches libicuuc.a, which needs it.
extern "C" const unsigned char U_ICUDATA_ENTRY_POINT[];

namespace cppmilter::mail {
namespace {

constexpr char32_t replacement_character = 0xFFFD;

void register_data() {
    static std::once_flag once;
    std::call_once(once, [] {
        UErrorCode status = U_ZERO_ERROR;
        // Fails harmlessly when the program has loaded ICU data already: it is the same package.
        udata_setCommonData(U_ICUDATA_ENTRY_POINT, &status);
    });
}

// RFC 2978 mime-charset characters. Anything else (",", "/", ".") is refused before ICU sees
// it: ICU reads "name,option=value" as converter options and may look names up as files.
bool is_charset_name(std::string_view name) {
    constexpr std::string_view punctuation = "!#$%&'+-^_`{}~";
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [&](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               punctuation.find(c) != std::string_view::npos;
    });
}

// ICU compares charset names the same way: letters and digits only, case folded.
std::string loose_name(std::string_view name) {
    std::string key;
    for (char c : name) {
        if (c >= 'A' && c <= 'Z') key += static_cast<char>(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) key += c;
    }
    return key;
}

// Labels ICU does not resolve the way mail needs: supersets that mailers really send, and
// ISO-8859-16, which ICU's default data lacks (the package embeds a table built for it).
std::string_view converter_name(std::string_view name, const std::string& key) {
    struct label { std::string_view key, converter; };
    static constexpr std::array<label, 13> labels{{
        {"gb2312", "windows-936-2000"},      {"csgb2312", "windows-936-2000"},
        {"euccn", "windows-936-2000"},       {"xeuccn", "windows-936-2000"},
        {"euckr", "windows-949-2000"},       {"cseuckr", "windows-949-2000"},
        {"iso885916", "iso-8859_16-2001"},
        {"latin10", "iso-8859_16-2001"},     {"l10", "iso-8859_16-2001"},
        {"isoir226", "iso-8859_16-2001"},    {"csiso885916", "iso-8859_16-2001"},
        {"iso885916latin10", "iso-8859_16-2001"}, {"xgbk", "windows-936-2000"},
    }};
    for (const auto& l : labels)
        if (l.key == key) return l.converter;
    return name;
}

struct converter_closer {
    void operator()(UConverter* c) const noexcept { ucnv_close(c); }
};
using converter_ptr = std::unique_ptr<UConverter, converter_closer>;

// Every byte sequence the charset does not define (illegal, unassigned or irregular)
// becomes one U+FFFD, whatever substitute the converter would pick itself (some pick U+001A).
void substitute_replacement_character(const void*, UConverterToUnicodeArgs* args, const char*, int32_t,
                                      UConverterCallbackReason reason, UErrorCode* status) {
    if (reason > UCNV_IRREGULAR) return; // reset, close, clone: nothing to write
    *status = U_ZERO_ERROR;
    const UChar fffd = static_cast<UChar>(replacement_character);
    ucnv_cbToUWriteUChars(args, &fffd, 1, 0, status);
}

converter_ptr open_converter(std::string_view charset_name) {
    if (!is_charset_name(charset_name)) return nullptr;
    register_data();
    const std::string key = loose_name(charset_name);
    const std::string name{converter_name(charset_name, key)};
    UErrorCode status = U_ZERO_ERROR;
    converter_ptr converter{ucnv_open(name.c_str(), &status)};
    if (U_FAILURE(status)) return nullptr;
    status = U_ZERO_ERROR;
    ucnv_setToUCallBack(converter.get(), substitute_replacement_character, nullptr, nullptr, nullptr, &status);
    if (U_FAILURE(status)) return nullptr;
    return converter;
}

void append_utf8(std::string& out, char32_t c) {
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

std::string utf16_to_utf8(const UChar* units, std::size_t count) {
    std::string out;
    out.reserve(count * 3 / 2);
    for (std::size_t i = 0; i < count; ++i) {
        char32_t c = units[i];
        if (c >= 0xD800 && c <= 0xDBFF && i + 1 < count && units[i + 1] >= 0xDC00 && units[i + 1] <= 0xDFFF) {
            c = 0x10000 + ((c - 0xD800) << 10) + (units[i + 1] - 0xDC00);
            ++i;
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            c = replacement_character; // a lone surrogate (UTF-16 input) has no UTF-8 form
        }
        append_utf8(out, c);
    }
    return out;
}

bool is_utf8_label(const std::string& key) { return key == "utf8"; }
bool is_ascii_label(const std::string& key) { return key == "usascii" || key == "ascii"; }

} // namespace

bool is_valid_utf8(std::string_view bytes) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto* const end = p + bytes.size();
    while (p != end) {
        const unsigned char lead = *p;
        if (lead < 0x80) {
            ++p;
            continue;
        }
        std::size_t length = 0;
        unsigned char low = 0x80, high = 0xBF; // the valid range of the second byte (RFC 3629 §4)
        if (lead >= 0xC2 && lead <= 0xDF) length = 2;
        else if (lead == 0xE0) length = 3, low = 0xA0;
        else if (lead == 0xED) length = 3, high = 0x9F;
        else if (lead >= 0xE1 && lead <= 0xEF) length = 3;
        else if (lead == 0xF0) length = 4, low = 0x90;
        else if (lead == 0xF4) length = 4, high = 0x8F;
        else if (lead >= 0xF1 && lead <= 0xF3) length = 4;
        else return false;
        if (static_cast<std::size_t>(end - p) < length) return false;
        if (p[1] < low || p[1] > high) return false;
        for (std::size_t i = 2; i < length; ++i)
            if (p[i] < 0x80 || p[i] > 0xBF) return false;
        p += length;
    }
    return true;
}

std::optional<std::string> to_utf8(std::string_view charset_name, std::string_view bytes) {
    // The common cases need no converter: ASCII text is the same in every charset we decode
    // from mail labels, except the ones that are not ASCII-compatible (UTF-16/32, UTF-7, ISO-2022).
    const std::string key = loose_name(charset_name);
    if (is_charset_name(charset_name) && (is_utf8_label(key) || is_ascii_label(key))) {
        const bool plain = is_utf8_label(key) ? is_valid_utf8(bytes)
                                              : std::all_of(bytes.begin(), bytes.end(),
                                                            [](char c) { return static_cast<unsigned char>(c) < 0x80; });
        if (plain) return std::string{bytes};
    }
    const converter_ptr converter = open_converter(charset_name);
    if (!converter) return std::nullopt;

    // Positions as indexes, not pointers kept across the resize (g++ 12 -O3 warns of a use
    // after free on the pointer form).
    std::vector<UChar> units(bytes.size() + 16);
    std::size_t used = 0;
    const char* source = bytes.data();
    for (;;) {
        UErrorCode status = U_ZERO_ERROR;
        UChar* target = units.data() + used;
        ucnv_toUnicode(converter.get(), &target, units.data() + units.size(), &source, bytes.data() + bytes.size(),
                       nullptr, true, &status);
        used = static_cast<std::size_t>(target - units.data());
        if (status == U_BUFFER_OVERFLOW_ERROR) { // a byte may stand for several code units
            units.resize(units.size() * 2);
            continue;
        }
        if (U_FAILURE(status)) return std::nullopt;
        break;
    }
    return utf16_to_utf8(units.data(), used);
}

bool is_known_charset(std::string_view charset_name) { return open_converter(charset_name) != nullptr; }

} // namespace cppmilter::mail
