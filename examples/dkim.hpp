// The dkim milter: DKIM signing (--mode sign) or verifying (--mode verify), RFC 6376 with
// RSA-SHA256 and Ed25519-SHA256 (RFC 8463). The cryptography and canonicalisation are
// libopendkim's; this file decides which messages and keys, rebuilds the header lines Postfix
// took apart, fetches the keys with asynchronous DNS (cppmilter::dns) and writes the result.
// Documentation: docs/examples/dkim.md.
#pragma once

#include <cppmilter/cppmilter.hpp>
#include <cppmilter/settings.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct dkim_lib; // libopendkim's DKIM_LIB

namespace examples {
namespace cm = cppmilter;

namespace dkim {

/// One private key and where it signs (d=, s=).
struct signing_key {
    std::string domain;   ///< lower case, no trailing dot
    std::string selector;
    std::string file;
    std::string pem;      ///< the file's text, as libopendkim loads it
    bool ed25519 = false; ///< ed25519-sha256; else rsa-sha256
};

/// An IPv4 or IPv6 network (--internal-hosts).
struct network {
    std::uint8_t address[16] = {};
    bool v6 = false;
    int prefix = 0;
};

/// A library handle configured from the settings (sign headers, over-signing, key lookup).
struct library;

} // namespace dkim

/// The milter's options (docs/examples/dkim.md lists them with examples).
struct dkim_settings {
    enum class mode_type { unset, sign, verify };
    enum class which_messages { auth, internal, all };
    enum class error_action { accept, tempfail };

    mode_type mode = mode_type::unset;         ///< --mode sign|verify (required)
    // signing
    std::string domain, selector, key;         ///< --domain/--selector/--key: one key
    std::vector<std::string> signing_keys;     ///< --signing-key DOMAIN:SELECTOR:FILE
    std::string key_table;                     ///< --key-table FILE: DOMAIN SELECTOR FILE lines
    std::string canonicalization = "relaxed/relaxed";
    std::string sign_headers;                  ///< --sign-headers A,B,...; empty: the default set
    std::string oversign_headers = "From";
    which_messages sign_which = which_messages::auth; ///< --sign auth|internal|all
    std::vector<std::string> internal_hosts;   ///< --internal-hosts CIDR,... (repeatable)
    // verifying
    std::string authserv_id;                   ///< --authserv-id; empty: the host name
    std::vector<std::string> dns_servers;      ///< --dns-server IP[:PORT] (repeatable)
    std::chrono::milliseconds dns_timeout{std::chrono::seconds{5}};
    std::string key_records;                   ///< --key-records FILE: no DNS, keys from it
    // both
    error_action on_error = error_action::accept;      ///< --on-error accept|tempfail

    static void declare(cm::option_list<dkim_settings>& o);
    /// Validates every option, loads and checks the keys (PEM, RSA ≥ 2048 or Ed25519), reads
    /// the key records file, sets up libopendkim; throws cm::settings_error with one line.
    void check();

    // Derived by check():
    bool signing = false;
    bool relaxed_header = true, relaxed_body = true;
    std::vector<dkim::signing_key> keys;
    std::vector<dkim::network> internal;
    std::shared_ptr<dkim::library> lib;
    std::shared_ptr<const std::map<std::string, std::string>> records; ///< --key-records, by name

    /// Whether `address` (as MTA macros or CONNECT give it) is in --internal-hosts.
    bool is_internal(std::string_view address) const;
    /// The keys to sign a message whose From domain is `from_domain` (A-labels, any case):
    /// those of the longest key domain that is the From domain or a parent of it.
    std::vector<const dkim::signing_key*> keys_for(std::string_view from_domain) const;
};

/// The settings the running server uses (replaced on SIGHUP; each message pins its own).
inline cm::settings<dkim_settings> dkim_config;

namespace dkim {

struct connection_state {
    std::string client_address; ///< from CONNECT, for --sign internal
};
struct message_state {
    std::shared_ptr<const dkim_settings> settings; ///< pinned at MAIL FROM
    bool authenticated = false;                    ///< {auth_authen} was set at MAIL FROM
};

using result = cm::eom<cm::insert_header, cm::delete_header>;

/// Signs (if this message should be signed) and returns the DKIM-Signature insertions.
result sign(const dkim_settings& s, const cm::whole_message& msg, bool authenticated, std::string_view client,
            std::string_view queue_id);
/// Verifies every signature and returns the Authentication-Results insertion (and the
/// deletion of forged ones that claim our authserv-id).
boost::asio::awaitable<result> verify(std::shared_ptr<const dkim_settings> s, const cm::whole_message& msg,
                                      std::string queue_id);

/// A DKIM-Signature's tags (RFC 6376 §3.2 tag list), FWS removed from values; empty if the
/// value is no tag list.
std::map<std::string, std::string> parse_tags(std::string_view value);
/// "Name: value" as it was in the message, CRLF line breaks (PROTOCOL.md §3.6: Postfix took
/// one space after the colon and joined folded lines with LF).
std::string header_line(std::string_view name, std::string_view value);

} // namespace dkim

inline constexpr auto dkim_milter =
    cm::milter<cm::connection_scoped<dkim::connection_state>, cm::message_scoped<dkim::message_state>>(
        cm::macros<cm::stage::mail_from, "{auth_authen}">{},
        cm::macros<cm::stage::end_of_message, "i">{},
        cm::on_connect([](const cm::connect_info& c, auto& ctx) { ctx.connection().client_address = c.address; }),
        cm::on_mail_from([](const cm::mail_from&, auto& ctx) {
            ctx.message().settings = dkim_config.pin();
            const auto user = cm::macro<"auth_authen">(ctx);
            ctx.message().authenticated = user && !user->empty();
        }),
        cm::on_end_of_message([](const cm::whole_message& msg, auto& ctx) -> boost::asio::awaitable<dkim::result> {
            auto s = ctx.message().settings ? ctx.message().settings : dkim_config.pin();
            const std::string queue_id{cm::macro<"i">(ctx).value_or("NOQUEUE")};
            if (s->signing)
                co_return dkim::sign(*s, msg, ctx.message().authenticated, ctx.connection().client_address, queue_id);
            co_return co_await dkim::verify(std::move(s), msg, queue_id);
        }));

} // namespace examples
