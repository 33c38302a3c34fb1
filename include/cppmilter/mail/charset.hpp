// Conversion of text in a MIME charset (RFC 2045/2047/2231 charset names) to UTF-8.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cppmilter::mail {

// `bytes` in the charset named `charset_name` (case-insensitive, any IANA or common alias:
// "latin1", "cp1252", "ks_c_5601-1987", "x-sjis", ...) as UTF-8. Bytes that are not valid in
// that charset become U+FFFD. std::nullopt if the charset is unknown.
//
// Always available: UTF-8, US-ASCII, ISO-8859-1..11 and 13..16, Windows-1250..1258, KOI8-R,
// KOI8-U, ISO-2022-JP, Shift_JIS, EUC-JP, EUC-KR, GB2312, GBK, GB18030, Big5, TIS-620,
// windows-874, cp866, UTF-16/32, UTF-7. Labels that mailers use for a superset are decoded
// with the superset, as the WHATWG Encoding Standard does: GB2312 as GBK, EUC-KR as
// windows-949 (UHC), Shift_JIS as windows-31J, Big5 as windows-950.
std::optional<std::string> to_utf8(std::string_view charset_name, std::string_view bytes);

// Whether to_utf8() knows `charset_name`.
bool is_known_charset(std::string_view charset_name);

// Whether `bytes` is well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code
// points above U+10FFFF).
bool is_valid_utf8(std::string_view bytes) noexcept;

} // namespace cppmilter::mail
