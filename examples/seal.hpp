// The seal milter, shared by its program, its tests and cppmilter-unseal: records who sent a
// message (client address and port, HELO name, SMTP AUTH user, TLS version and cipher, queue
// id, time) as JSON, encrypts it to a public key with libsodium's sealed box, and adds it as
//
//     X-Sealed-Info: v=1; k=<key id>; d=<base64 of the sealed box, in chunks>
//
// The milter host holds only public keys: reading the header back needs the secret key, which
// stays with the operator (cppmilter-unseal). A header of that name already in the message is
// deleted, so only ours remains. docs/examples/seal.md has the options and the format.
#pragma once

#include <cppmilter/cppmilter.hpp>
#include <cppmilter/mail/charset.hpp>
#include <cppmilter/mail/header.hpp>
#include <cppmilter/settings.hpp>

#include <boost/json.hpp> // the one TU that includes <boost/json/src.hpp> compiles it

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace examples {
namespace cm = cppmilter;

// ---- the sealed value: keys, format, sealing and opening (milter and cppmilter-unseal alike)

namespace sealed {

using key_bytes = std::array<unsigned char, crypto_box_PUBLICKEYBYTES>;
static_assert(crypto_box_PUBLICKEYBYTES == crypto_box_SECRETKEYBYTES);

/// A key and the id that names it in `k=`.
struct named_key {
    std::string id;
    key_bytes bytes{};
};

/// Why a key file or a sealed value was refused; what() is one line.
struct error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline constexpr std::size_t max_key_id = 32;
/// The base64 in `d=` is cut into chunks this long, separated by a space, so that the header
/// folds into lines of at most 78 columns (a base64 word has no place to break).
inline constexpr std::size_t base64_chunk = 64;

/// Key ids go into the header as `k=ID;`: letters, digits, '.', '_' and '-' only.
inline bool valid_key_id(std::string_view id) noexcept {
    return !id.empty() && id.size() <= max_key_id && std::ranges::all_of(id, [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
}

inline void init_sodium() {
    if (sodium_init() < 0) throw error{"libsodium cannot be initialised"};
}

inline std::string to_base64(const unsigned char* bytes, std::size_t size) {
    std::string out(sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), bytes, size, sodium_base64_VARIANT_ORIGINAL);
    out.resize(out.size() - 1); // the terminating NUL
    return out;
}

/// Standard base64 with padding; spaces, tabs and line breaks anywhere are ignored (folding).
inline std::optional<std::string> from_base64(std::string_view text) {
    std::string out(text.size() / 4 * 3 + 3, '\0');
    std::size_t size = 0;
    const char* end = nullptr;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                          " \t\r\n", &size, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text.data() + text.size())
        return std::nullopt;
    out.resize(size);
    return out;
}

/// The key in `path`: the base64 of 32 bytes (what `cppmilter-unseal --generate-keypair`
/// writes), surrounding whitespace allowed. `option` names the option in the error.
inline key_bytes read_key_file(const std::string& path, std::string_view option) {
    const std::string where = std::string{option} + " " + path;
    std::ifstream in{path, std::ios::binary};
    if (!in) throw error{where + ": cannot be read: " + std::generic_category().message(errno)};
    constexpr std::size_t limit = 4096; // a key file is 45 bytes; anything far bigger is another file
    std::string text(limit, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (in.bad()) throw error{where + ": cannot be read"};
    text.resize(static_cast<std::size_t>(in.gcount()));
    const auto decoded = from_base64(text);
    if (!decoded)
        throw error{where + ": not a key: expected the base64 of " + std::to_string(crypto_box_PUBLICKEYBYTES) +
                    " bytes (cppmilter-unseal --generate-keypair writes one)"};
    if (decoded->size() != crypto_box_PUBLICKEYBYTES)
        throw error{where + ": the key is " + std::to_string(decoded->size()) + " bytes, not " +
                    std::to_string(crypto_box_PUBLICKEYBYTES)};
    key_bytes key;
    std::copy(decoded->begin(), decoded->end(), key.begin());
    return key;
}

/// `[ID=]FILE` as --public-key and --secret-key take it: without `ID=`, the id is the file
/// name without its directory and without `suffix` (".pub", ".key").
inline named_key read_named_key(std::string_view spec, std::string_view option, std::string_view suffix) {
    std::string id, path;
    const auto eq = spec.find('=');
    if (eq != std::string_view::npos && spec.substr(0, eq).find('/') == std::string_view::npos) {
        id = spec.substr(0, eq);
        path = spec.substr(eq + 1);
    } else {
        path = spec;
        std::string_view name = spec.substr(spec.rfind('/') == std::string_view::npos ? 0 : spec.rfind('/') + 1);
        if (name.ends_with(suffix)) name.remove_suffix(suffix.size());
        id = name;
    }
    if (!valid_key_id(id))
        throw error{std::string{option} + " " + std::string{spec} + ": '" + id +
                    "' is no key id (1 to 32 of A-Z a-z 0-9 . _ -; name it with ID=FILE)"};
    return {id, read_key_file(path, option)};
}

/// The unfolded header value: "v=1; k=ID; d=BASE64 BASE64 ...".
inline std::string seal(const named_key& key, std::string_view plaintext) {
    std::string box(plaintext.size() + crypto_box_SEALBYTES, '\0');
    auto* out = reinterpret_cast<unsigned char*>(box.data());
    if (crypto_box_seal(out, reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                        key.bytes.data()) != 0)
        throw error{"crypto_box_seal failed"};
    const std::string b64 = to_base64(out, box.size());
    std::string value = "v=1; k=" + key.id + "; d=";
    for (std::size_t at = 0; at < b64.size(); at += base64_chunk) {
        if (at != 0) value += ' ';
        value.append(b64, at, base64_chunk);
    }
    return value;
}

/// A header value split into its tags (the DKIM tag-list syntax, RFC 6376 §3.2).
struct parsed_value {
    std::string version;        ///< v=
    std::string key_id;         ///< k=
    std::string data;           ///< d=, whitespace and all
};

/// `value` as the header carries it (folded or not). Throws error if v=1 or d= is missing.
inline parsed_value parse(std::string_view value) {
    const std::string text = cm::mail::unfold(value);
    auto trim = [](std::string_view s) {
        while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
        while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
        return s;
    };
    parsed_value out;
    bool has_version = false, has_data = false;
    std::string_view rest = text;
    while (!rest.empty()) {
        const auto semicolon = rest.find(';');
        const std::string_view tag = trim(rest.substr(0, semicolon));
        rest = semicolon == std::string_view::npos ? std::string_view{} : rest.substr(semicolon + 1);
        if (tag.empty()) continue;
        const auto eq = tag.find('=');
        if (eq == std::string_view::npos) throw error{"malformed tag '" + std::string{tag.substr(0, 20)} + "'"};
        const std::string_view name = trim(tag.substr(0, eq)), v = trim(tag.substr(eq + 1));
        if (name == "v") out.version = v, has_version = true;
        else if (name == "k") out.key_id = v;
        else if (name == "d") out.data = v, has_data = true;
        // Other tags are ignored: room for later versions.
    }
    if (!has_version) throw error{"no v= tag"};
    if (out.version != "1") throw error{"version v=" + out.version + " is not 1"};
    if (!has_data) throw error{"no d= tag"};
    return out;
}

/// The plaintext of a sealed box, opened with `secret` (its public key is derived from it).
/// nullopt if it does not open: sealed for another key, or changed on the way.
inline std::optional<std::string> open(std::string_view box, const key_bytes& secret) {
    if (box.size() < crypto_box_SEALBYTES) return std::nullopt;
    key_bytes public_key;
    crypto_scalarmult_base(public_key.data(), secret.data());
    std::string plain(box.size() - crypto_box_SEALBYTES, '\0');
    if (crypto_box_seal_open(reinterpret_cast<unsigned char*>(plain.data()),
                             reinterpret_cast<const unsigned char*>(box.data()), box.size(), public_key.data(),
                             secret.data()) != 0)
        return std::nullopt;
    return plain;
}

// ---- what is sealed

/// The facts sealed into the header; absent ones are JSON null.
struct facts {
    std::optional<std::string> client_address; ///< CONNECT: the IP address (or socket path)
    std::optional<std::uint16_t> client_port;  ///< CONNECT: for IPv4 and IPv6 clients
    std::optional<std::string> client_name;    ///< CONNECT: the name the MTA verified, else "unknown"/"[ip]"
    std::optional<std::string> helo;           ///< HELO/EHLO argument (the last one given)
    std::optional<std::string> auth_user;      ///< macro {auth_authen}
    std::optional<std::string> tls_version;    ///< macro {tls_version}
    std::optional<std::string> tls_cipher;     ///< macro {cipher}
    std::optional<int> tls_cipher_bits;        ///< macro {cipher_bits}, when it is a number
    std::optional<std::string> queue_id;       ///< macro i
    std::string time;                          ///< when the message was sealed, UTC, RFC 3339
};

/// RFC 3339 in UTC, to the second: "2026-12-02T16:06:57Z".
inline std::string utc_time(std::chrono::system_clock::time_point t) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

/// The JSON object, every key present. Text from the client (HELO, ...) may be any bytes:
/// what is not UTF-8 becomes U+FFFD, so the JSON stays valid.
inline std::string to_json(const facts& f) {
    namespace json = boost::json;
    auto text = [](const std::optional<std::string>& s) -> json::value {
        if (!s) return nullptr;
        if (cm::mail::is_valid_utf8(*s)) return json::string{*s};
        return json::string{cm::mail::to_utf8("UTF-8", *s).value_or("")};
    };
    auto number = [](const auto& n) -> json::value {
        if (!n) return nullptr;
        return *n;
    };
    const json::object o{
        {"client_address", text(f.client_address)},
        {"client_port", number(f.client_port)},
        {"client_name", text(f.client_name)},
        {"helo", text(f.helo)},
        {"auth_user", text(f.auth_user)},
        {"tls_version", text(f.tls_version)},
        {"tls_cipher", text(f.tls_cipher)},
        {"tls_cipher_bits", number(f.tls_cipher_bits)},
        {"queue_id", text(f.queue_id)},
        {"time", f.time},
    };
    return json::serialize(o);
}

/// A macro's value, or nullopt when the MTA sent none or an empty one.
inline std::optional<std::string> present(std::optional<std::string_view> macro) {
    if (!macro || macro->empty()) return std::nullopt;
    return std::string{*macro};
}

/// A macro's value as a number of at most 5 digits, or nullopt.
inline std::optional<int> small_number(std::optional<std::string_view> macro) {
    if (!macro || macro->empty() || macro->size() > 5) return std::nullopt;
    int n = 0;
    for (char c : *macro) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    return n;
}

} // namespace sealed

// ---- the milter's settings

struct seal_settings {
    std::vector<std::string> public_keys;      ///< --public-key [ID=]FILE, as given
    std::string key_id;                        ///< --key-id
    std::string header = "X-Sealed-Info";      ///< --header
    bool only_auth = false;                    ///< --only-auth

    std::vector<sealed::named_key> keys;       ///< derived by check(): every key, loaded
    std::size_t sealing_index = 0;             ///< derived by check(): the one that seals

    static void declare(cm::option_list<seal_settings>& o) {
        o("public-key", &seal_settings::public_keys, "[ID=]FILE",
          "a public key (the base64 of 32 bytes), named ID in the header; without ID=, the file "
          "name without .pub (repeatable: keys for rotation)");
        o("key-id", &seal_settings::key_id, "ID", "seal with the key named ID (needed when there are several)");
        o("header", &seal_settings::header, "NAME", "the header field to add (default X-Sealed-Info)");
        o("only-auth", &seal_settings::only_auth, "seal only messages from clients that logged in (SMTP AUTH)");
    }

    /// Loads every key: a key that cannot be read stops the start (78), or a reload (the old
    /// keys stay). Re-read at every SIGHUP, so a rotated key file is picked up.
    void check() {
        sealed::init_sodium();
        if (public_keys.empty()) throw cm::settings_error{"--public-key: none given; the key to seal with is needed"};
        if (header.empty() || !std::ranges::all_of(header, [](char c) { return c > ' ' && c < 127 && c != ':'; }))
            throw cm::settings_error{"--header: '" + header + "' is not a header field name"};
        keys.clear();
        for (const auto& spec : public_keys) {
            try {
                keys.push_back(sealed::read_named_key(spec, "--public-key", ".pub"));
            } catch (const sealed::error& e) {
                throw cm::settings_error{e.what()};
            }
            for (std::size_t i = 0; i + 1 < keys.size(); ++i)
                if (keys[i].id == keys.back().id)
                    throw cm::settings_error{"--public-key: the id '" + keys.back().id + "' is given twice"};
        }
        if (key_id.empty()) {
            if (keys.size() > 1)
                throw cm::settings_error{"--key-id: needed to choose among " + std::to_string(keys.size()) + " public keys"};
            sealing_index = 0;
            return;
        }
        const auto chosen = std::ranges::find(keys, key_id, &sealed::named_key::id);
        if (chosen == keys.end()) throw cm::settings_error{"--key-id: no --public-key is named '" + key_id + "'"};
        sealing_index = static_cast<std::size_t>(chosen - keys.begin());
    }

    const sealed::named_key& sealing_key() const {
        if (keys.empty()) throw std::logic_error{"seal: no public key loaded"};
        return keys.at(sealing_index);
    }
};

/// The settings the running server uses: from the command line and --config, replaced on SIGHUP.
inline cm::settings<seal_settings> seal_options;

// ---- the milter

/// What CONNECT and HELO said, kept for every message of the connection.
struct seal_connection {
    std::optional<std::string> client_address;
    std::optional<std::uint16_t> client_port;
    std::optional<std::string> client_name;
    std::optional<std::string> helo;
};

inline constexpr auto seal = cm::milter<cm::connection_scoped<seal_connection>>(
    // Asked of the MTA with SETSYMLIST (Postfix replaces its milter_*_macros lists with these).
    cm::macros<cm::stage::mail_from, "{auth_authen}", "{tls_version}", "{cipher}", "{cipher_bits}">{},
    cm::macros<cm::stage::end_of_message, "i">{},
    cm::on_connect([](const cm::connect_info& c, auto& ctx) {
        using family = cm::proto::address_family;
        seal_connection& conn = ctx.connection();
        conn = {};
        conn.client_name = sealed::present(c.hostname);
        if (c.family != family::unknown) conn.client_address = sealed::present(c.address);
        if (c.family == family::inet || c.family == family::inet6) conn.client_port = c.port;
    }),
    cm::on_helo([](const cm::helo_info& h, auto& ctx) { ctx.connection().helo = sealed::present(h.name); }),
    cm::on_end_of_message([](cm::editable<cm::edit::headers>& msg, auto& ctx) {
        const seal_settings& settings = seal_options.current();
        // Whatever the client wrote under our name goes, sealed or not: anyone who has the
        // public key can seal, so a header we did not add proves nothing.
        msg.remove_headers(settings.header);
        const auto user = sealed::present(cm::macro<"auth_authen">(ctx));
        if (settings.only_auth && !user) return;
        const seal_connection& conn = ctx.connection();
        const sealed::facts facts{
            .client_address = conn.client_address,
            .client_port = conn.client_port,
            .client_name = conn.client_name,
            .helo = conn.helo,
            .auth_user = user,
            .tls_version = sealed::present(cm::macro<"tls_version">(ctx)),
            .tls_cipher = sealed::present(cm::macro<"cipher">(ctx)),
            .tls_cipher_bits = sealed::small_number(cm::macro<"cipher_bits">(ctx)),
            .queue_id = sealed::present(cm::macro<"i">(ctx)),
            .time = sealed::utc_time(std::chrono::system_clock::now()),
        };
        const std::string value = sealed::seal(settings.sealing_key(), sealed::to_json(facts));
        msg.append_header(settings.header, cm::mail::fold(settings.header, value));
    }));

} // namespace examples
