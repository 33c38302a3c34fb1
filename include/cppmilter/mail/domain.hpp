// Domain names: IDNA (IDNA2008 with UTS #46 non-transitional processing, via libidn2), the
// organisational domain of DMARC (RFC 7489 §3.2) from the Public Suffix List (via libpsl), and
// DMARC identifier alignment.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace cppmilter::mail {

/// The ASCII form (A-labels, lower case, no trailing dot) of a domain given in U-labels,
/// A-labels or both, in any case: `BÜCHER.example.` gives `xn--bcher-kva.example`. Nothing if
/// it is no valid domain name (empty label, label over 63 or name over 253 octets, white space or
/// control characters, invalid UTF-8 or Punycode, a label libidn2 rejects).
std::optional<std::string> to_ascii(std::string_view domain);

/// The Unicode form (U-labels, lower case, no trailing dot): `XN--BCHER-KVA.example` gives
/// `bücher.example`. Nothing where to_ascii() gives nothing.
std::optional<std::string> to_unicode(std::string_view domain);

/// Whether two names are the same domain: case-insensitive, U-labels equal to their A-labels,
/// a trailing dot ignored. Names that are no valid domain are equal only byte for byte.
bool same_domain(std::string_view a, std::string_view b);

/// A Public Suffix List (https://publicsuffix.org), ICANN and private sections both, as DMARC
/// implementations use it. Cheap to copy (the data is shared and immutable).
class public_suffix_list {
public:
    /// The list in a file libpsl reads: the DAFSA form (`public_suffix_list.dafsa`) or the text
    /// form (`public_suffix_list.dat`). Throws std::system_error if it cannot be read or parsed.
    static public_suffix_list load(const std::filesystem::path& file);
    /// The same, reporting failure in `ec` (no_such_file_or_directory, permission_denied,
    /// invalid_argument when libpsl cannot parse it).
    static std::optional<public_suffix_list> load(const std::filesystem::path& file,
                                                  std::error_code& ec);

    /// The list compiled into libpsl (Debian's libpsl.a and libpsl.so carry one); if this libpsl
    /// has none, minimal().
    static public_suffix_list builtin();
    /// A few dozen common suffixes (generic TLDs, a few ccTLDs and their second levels): the
    /// last resort, good enough for the common cases only.
    static public_suffix_list minimal();

    /// `file` if it can be loaded and is not older than the built-in list, else builtin().
    static public_suffix_list load_or_builtin(const std::filesystem::path& file);

    /// The list of the system: Debian's `/usr/share/publicsuffix/public_suffix_list.dafsa`
    /// (kept current by the publicsuffix package), else the built-in copy (a static binary in a
    /// minimal container). Loaded once, on first use; thread-safe.
    static const public_suffix_list& system();
    /// The file the system list is read from.
    static constexpr std::string_view system_file = "/usr/share/publicsuffix/public_suffix_list.dafsa";

    /// The organisational domain (RFC 7489 §3.2): the public suffix plus one label.
    /// A domain that is itself a public suffix (`co.uk`, `com`, an unknown TLD) is its own
    /// organisational domain, as for Public Suffix Domains in RFC 9091; so two names are
    /// relaxed-aligned only if both are that suffix.
    /// The result is in the form of the input: U-labels if the input has any non-ASCII
    /// character, else ASCII (A-labels stay A-labels); lower case, no trailing dot.
    /// Nothing if the input is no valid domain name (see to_ascii()).
    std::optional<std::string> organizational_domain(std::string_view domain) const;

    /// Whether the name is a public suffix by the list's rules, the implicit `*` rule included
    /// (so every single label is one). False for a name that is no valid domain.
    bool is_public_suffix(std::string_view domain) const;

    /// Where the data comes from: a file's path, "builtin" or "minimal".
    const std::string& source() const noexcept;

    class impl;

private:
    explicit public_suffix_list(std::shared_ptr<const impl> data) noexcept;
    std::shared_ptr<const impl> impl_;
};

/// public_suffix_list::system().organizational_domain(domain).
std::optional<std::string> organizational_domain(std::string_view domain);

/// DMARC identifier alignment modes (the `adkim=` and `aspf=` tags of RFC 7489 §6.3).
enum class alignment { strict, relaxed };

/// DMARC identifier alignment (RFC 7489 §3.1): strict when the names are the same domain,
/// relaxed when their organisational domains are the same (with the system list). False if
/// either is no valid domain name.
bool aligned(std::string_view a, std::string_view b, alignment mode);

} // namespace cppmilter::mail
