// The align milter, shared by its program and its tests: DMARC identifier alignment (RFC 7489
// §3.1) of the From header with the envelope sender, checked at end of message.
//
// A message passes when its one From header holds one address whose domain aligns with the
// domain of the envelope sender (MAIL FROM): relaxed (the default) when both have the same
// organisational domain by the Public Suffix List, strict when they are the same domain.
// Everything else gets `550 5.7.1` with a text that says what is wrong and what to change:
// no From header, several, a From with several addresses or a group, one that does not parse,
// a From or envelope domain that is no domain name, domains that do not align. With the null
// sender `<>` (bounces), the From domain is aligned with the HELO name instead (--null-sender
// helo, the default) or not checked (pass). --auth chooses what SMTP AUTH changes, --dry-run
// only logs. docs/examples/align.md describes it for administrators.
#pragma once

#include <cppmilter/asio/log.hpp>
#include <cppmilter/cppmilter.hpp>
#include <cppmilter/mail/address.hpp>
#include <cppmilter/mail/domain.hpp>
#include <cppmilter/settings.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace examples {
namespace cm = cppmilter;

// ---- Options ------------------------------------------------------------------------------

/// The parts of the align milter (its own namespace: other examples may sit beside it).
namespace align_parts {

/// --mode: how close the two domains must be (the `aspf=` tag of RFC 7489 §6.3).
enum class alignment_mode { relaxed, strict };
/// --null-sender: what a bounce (MAIL FROM:<>) is aligned with.
enum class null_sender_rule { helo, pass };
/// --auth: what an SMTP AUTH login (macro {auth_authen}) changes.
enum class auth_rule { ignore, exempt, only };

/// The mode's name, as --mode takes it (for the log line).
constexpr std::string_view to_string(alignment_mode mode) noexcept {
    return mode == alignment_mode::strict ? "strict" : "relaxed";
}

} // namespace align_parts

struct align_options {
    using alignment_mode = align_parts::alignment_mode;
    using null_sender_rule = align_parts::null_sender_rule;
    using auth_rule = align_parts::auth_rule;

    alignment_mode mode = alignment_mode::relaxed;
    null_sender_rule null_sender = null_sender_rule::helo;
    auth_rule auth = auth_rule::ignore;
    bool dry_run = false;

    // A name that is not one of the choices is a usage error when the options are read (exit
    // code 64): `--mode: 'bogus' is not one of relaxed|strict`.
    static void declare(cm::option_list<align_options>& o) {
        o("mode", &align_options::mode,
          {{"relaxed", alignment_mode::relaxed}, {"strict", alignment_mode::strict}},
          "relaxed (default): the From domain and the envelope sender's domain must have the same "
          "organisational domain (Public Suffix List); strict: they must be the same domain");
        o("null-sender", &align_options::null_sender,
          {{"helo", null_sender_rule::helo}, {"pass", null_sender_rule::pass}},
          "for the null sender <> (bounces): helo (default) aligns the From domain with the HELO "
          "name instead; pass lets such messages through unchecked");
        o("auth", &align_options::auth,
          {{"ignore", auth_rule::ignore}, {"exempt", auth_rule::exempt}, {"only", auth_rule::only}},
          "senders logged in with SMTP AUTH (macro {auth_authen}): ignore (default) checks "
          "them like everyone; exempt lets them through; only checks them and nobody else "
          "(submission)");
        o("dry-run", &align_options::dry_run,
          "log what would be rejected (at --log-level info) and accept every message");
    }
};

/// The options the running server uses: set from the command line and --config, replaced on
/// SIGHUP. Each message keeps the value it started with (pinned at MAIL FROM).
inline cm::settings<align_options> align_settings;

// ---- The check -----------------------------------------------------------------------------

namespace align_parts {

/// Why a message is refused: `rule` names the check for the log, `reply` is the SMTP text
/// after "550 5.7.1 " (printable ASCII only: it goes to the client).
struct failure {
    std::string_view rule;
    std::string reply;
};

/// Text from the message or the envelope made safe for an SMTP reply and a log line: printable
/// ASCII kept, every other byte shown as '?', cut after 100 bytes. (A reply must be ASCII and
/// must not hold CR or LF; a log line must stay one line.)
inline std::string printable(std::string_view text) {
    constexpr std::size_t limit = 100;
    std::string out;
    for (char c : text.substr(0, limit))
        out += c >= 0x20 && c <= 0x7e ? c : '?';
    if (text.size() > limit) out += "...";
    return out;
}

/// The From domain and what it must align with, both valid domain names, in ASCII.
inline std::optional<failure> compare(const std::string& from, const std::string& other,
                                      std::string_view other_name, alignment_mode mode) {
    const bool strict = mode == alignment_mode::strict;
    // Valid names always have an organisational domain (a public suffix is its own).
    const std::string want = strict ? from : cm::mail::organizational_domain(from).value_or(from);
    const std::string have =
        strict ? other : cm::mail::organizational_domain(other).value_or(other);
    if (want == have) return std::nullopt;
    const std::string what{other_name};
    return failure{
        "unaligned",
        "From header domain " + from + " does not align with " + what + " " + other +
            (strict ? " (strict): the " + what + " must be " + from
                    : " (relaxed): the " + what + " must be " + want + " or a subdomain of it")};
}

/// The checks of one message (everything but --auth and --dry-run): `from_fields` are the
/// values of its From headers, `envelope_sender` the MAIL FROM address as the client wrote it
/// (`<a@b>`, `<>`), `helo` the last HELO/EHLO name (empty if none). Nothing when it passes.
inline std::optional<failure> check(const std::vector<std::string_view>& from_fields,
                                    std::string_view envelope_sender, std::string_view helo,
                                    const align_options& options) {
    // RFC 5322 §3.6: exactly one From; RFC 7489 §6.6.1: one author domain to evaluate.
    if (from_fields.empty())
        return failure{"no_from",
                       "message has no From header: it needs exactly one, with one address"};
    if (from_fields.size() > 1)
        return failure{"several_from", "message has " + std::to_string(from_fields.size()) +
                                           " From headers: exactly one is allowed"};
    const auto from = cm::mail::parse_address_list(from_fields.front());
    if (from.error)
        return failure{"unparseable_from",
                       "From header cannot be parsed (" + from.error->message() +
                           "): it must be one address, as in Name <user@example.org>"};
    if (!from.groups.empty())
        return failure{"group_from", "From header is a group (name: ...;): it must be one address"};
    if (from.mailboxes.empty())
        return failure{"empty_from", "From header holds no address: it must hold exactly one"};
    if (from.mailboxes.size() > 1)
        return failure{"several_addresses", "From header holds " +
                                                std::to_string(from.mailboxes.size()) +
                                                " addresses: exactly one is allowed"};
    const std::string& from_domain_text = from.mailboxes.front().domain;
    const auto from_domain = cm::mail::to_ascii(from_domain_text);
    if (!from_domain)
        return failure{"from_domain",
                       "From header domain '" + printable(from_domain_text) +
                           "' is no domain name: it needs one to align with the envelope"};

    const auto envelope = cm::mail::parse_path(envelope_sender);
    if (envelope.ok() && envelope.value->null) {
        if (options.null_sender == null_sender_rule::pass) return std::nullopt;
        if (helo.empty())
            return failure{"helo_domain",
                           "null envelope sender and no HELO name to align the From header "
                           "domain " +
                               *from_domain + " with"};
        const auto helo_domain = cm::mail::to_ascii(helo);
        if (!helo_domain)
            return failure{"helo_domain",
                           "null envelope sender and HELO name '" + printable(helo) +
                               "' is no domain name to align the From header domain " +
                               *from_domain + " with"};
        return compare(*from_domain, *helo_domain, "HELO name", options.mode);
    }
    const auto envelope_domain = envelope.ok() && !envelope.value->domain.empty()
                                     ? cm::mail::to_ascii(envelope.value->domain)
                                     : std::nullopt;
    if (!envelope_domain)
        return failure{"envelope_domain",
                       "envelope sender '" + printable(envelope_sender) +
                           "' has no domain name to align the From header domain " + *from_domain +
                           " with"};
    return compare(*from_domain, *envelope_domain, "envelope sender domain", options.mode);
}

// ---- The milter ----------------------------------------------------------------------------

struct connection_state {
    std::string helo; ///< the last HELO/EHLO name (a client may say EHLO again after STARTTLS)
};
struct message_state {
    /// Pinned at MAIL FROM: one message, one configuration, whatever SIGHUP does meanwhile.
    std::shared_ptr<const align_options> options;
    std::string envelope_sender; ///< as the client wrote it: "<a@b>", "<>"
    bool authenticated = false;  ///< {auth_authen} had a value at MAIL FROM
};

} // namespace align_parts

inline constexpr auto align = cm::milter<cm::connection_scoped<align_parts::connection_state>,
                                         cm::message_scoped<align_parts::message_state>>(
    cm::macros<cm::stage::mail_from, "{auth_authen}">{},
    // The queue id, so that a log line of ours can be found in the MTA's log.
    cm::macros<cm::stage::end_of_message, "i">{},
    cm::on_helo([](const cm::helo_info& h, auto& ctx) { ctx.connection().helo = h.name; }),
    cm::on_mail_from([](const cm::mail_from& m, auto& ctx) {
        auto& message = ctx.message();
        message.options = align_settings.pin();
        message.envelope_sender = m.address;
        const auto user = cm::macro<"auth_authen">(ctx);
        message.authenticated = user && !user->empty();
    }),
    cm::on_end_of_message([](const cm::message_headers& msg, auto& ctx) -> cm::verdict {
        const auto& message = ctx.message();
        const align_options& options =
            message.options ? *message.options : align_settings.current();
        if (options.auth == align_options::auth_rule::exempt && message.authenticated)
            return cm::next;
        if (options.auth == align_options::auth_rule::only && !message.authenticated)
            return cm::next;

        const auto failure = align_parts::check(msg.all("From"), message.envelope_sender,
                                                ctx.connection().helo, options);
        if (!failure) return cm::next;
        namespace log = cm::asio_server;
        if (log::log_enabled(log::log_level::info)) {
            const auto queue_id = cm::macro<"i">(ctx);
            log::log_line(
                log::log_level::info, 0,
                std::string{options.dry_run ? "align: dry run, would reject" : "align: rejected"} +
                    " queue_id=" + align_parts::printable(queue_id.value_or("-")) + " rule=" +
                    std::string{failure->rule} + " mode=" + std::string{align_parts::to_string(options.mode)} +
                    " sender=" + align_parts::printable(message.envelope_sender) + ": " +
                    failure->reply);
        }
        if (options.dry_run) return cm::next;
        return cm::reply(550, "5.7.1", failure->reply);
    }));

} // namespace examples
