// RFC 2047 encoded words ("=?charset?Q?text?=") in header text, decoded to and encoded
// from UTF-8. RFC 2231 language suffixes ("=?utf-8*en?Q?...?=") are accepted.
#pragma once

#include <string>
#include <string_view>

namespace cppmilter::mail {

// `text` (unfolded unstructured text, such as a Subject, or a display name taken out of its
// quotes and comments) with its B and Q encoded words decoded to UTF-8 (charset.hpp). The
// whitespace between two adjacent encoded words is dropped; adjacent words of one charset
// are decoded together, so a character split across them (against §5 but common) survives.
// A malformed word (bad syntax, bad base64 or Q escape, unknown charset) stays exactly as it
// is, and so does all other text, byte for byte. Over 75 characters or not separated from
// the text around it by whitespace, a word is decoded anyway, as mail readers do.
std::string decode_unstructured(std::string_view text);

// `utf8` for an unstructured field: unchanged if it is printable ASCII (spaces and tabs
// included); otherwise the words that need it (non-ASCII, control characters, or "=?" that
// would read as an encoded word) become UTF-8 encoded words, Q or B whichever is shorter,
// each at most 75 characters and holding whole characters, separated by spaces where fold()
// can break. decode_unstructured(encode_unstructured(x)) == x for any x.
std::string encode_unstructured(std::string_view utf8);

// `utf8` as a display name (RFC 5322 phrase): atoms unchanged; other printable ASCII as a
// quoted-string; text with non-ASCII or control characters as encoded words with the
// stricter Q alphabet of RFC 2047 §5(3), words that are not atoms included.
std::string encode_phrase(std::string_view utf8);

} // namespace cppmilter::mail
