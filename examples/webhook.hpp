// The webhook milter, shared by its program and its tests: an HTTP(S) policy endpoint decides.
//
// At one stage of each message (--stage mail, rcpt or eom) the milter POSTs a JSON document
// that describes the connection and the transaction so far to --url, and turns the JSON
// answer into the verdict:
//
//     {"action": "reject", "code": 550, "status": "5.7.1", "message": "not from here"}
//     {"action": "continue", "add_headers": [{"name": "X-Policy", "value": "checked"}]}
//
// An endpoint that cannot be reached, is too slow (--request-timeout), answers with another status
// than 2xx, or answers something that is not such a document gets --on-error (tempfail by
// default); the first failure and the recovery are logged, not every message in between.
// docs/examples/webhook.md describes the document, the answer and the options.
#pragma once

#include <cppmilter/asio/log.hpp>
#include <cppmilter/contrib/dns.hpp>
#include <cppmilter/contrib/http.hpp>
#include <cppmilter/cppmilter.hpp>
#include <cppmilter/mail/charset.hpp>
#include <cppmilter/mail/encoded_word.hpp>
#include <cppmilter/mail/header.hpp>
#include <cppmilter/proto/replies.hpp>
#include <cppmilter/settings.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp> // the one TU that includes <boost/json/src.hpp> compiles it

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace examples {
namespace cm = cppmilter;

namespace webhook_parts {

/// --stage: when the endpoint is asked.
enum class ask_at { mail, rcpt, eom };
/// --on-error: the verdict when the endpoint gives no usable answer.
enum class on_error_verdict { accept, tempfail, reject };

inline std::string_view to_string(ask_at s) noexcept {
    switch (s) {
    case ask_at::mail:
        return "mail";
    case ask_at::rcpt:
        return "rcpt";
    case ask_at::eom:
        return "eom";
    }
    return "?";
}

} // namespace webhook_parts

// ---- Options -----------------------------------------------------------------------------

struct webhook_settings {
    std::string url; ///< --url
    webhook_parts::ask_at stage = webhook_parts::ask_at::mail;
    std::vector<std::string> headers;        ///< --header NAME (at eom)
    std::chrono::milliseconds timeout{5000}; ///< --request-timeout
    webhook_parts::on_error_verdict on_error = webhook_parts::on_error_verdict::tempfail;
    std::string ca_file;                  ///< --ca-file
    std::string auth_header_file;         ///< --auth-header-file
    std::string connect_to;               ///< --connect-to
    std::vector<std::string> dns_servers; ///< --dns-server

    // Derived by check():
    std::optional<cm::http::url> endpoint;
    std::shared_ptr<cm::http::client> client;
    std::vector<cm::http::field> request_fields; ///< Content-Type, and the secret header

    static void declare(cm::option_list<webhook_settings>& o) {
        using webhook_parts::ask_at;
        using webhook_parts::on_error_verdict;
        o("url", &webhook_settings::url, "URL",
          "the policy endpoint: http://HOST[:PORT]/PATH or https://...; HOST a name (looked up "
          "with --dns-server), a numeric address or localhost (required)");
        o("stage", &webhook_settings::stage,
          {{"mail", ask_at::mail}, {"rcpt", ask_at::rcpt}, {"eom", ask_at::eom}},
          "when to ask: at MAIL FROM (default), at every RCPT TO, or at end of message (with "
          "headers)");
        o("header", &webhook_settings::headers, "NAME",
          "at --stage eom, send the header fields called NAME (repeatable; default: none)");
        o("request-timeout", &webhook_settings::timeout, "DURATION",
          "the whole request (connect, TLS, send, answer) must finish within this (default 5s)");
        o("on-error", &webhook_settings::on_error,
          {{"accept", on_error_verdict::accept},
           {"tempfail", on_error_verdict::tempfail},
           {"reject", on_error_verdict::reject}},
          "the verdict when the endpoint fails or answers nonsense (default tempfail: the client "
          "retries later)");
        o("ca-file", &webhook_settings::ca_file, "FILE",
          "PEM file of the CAs that may sign the endpoint's certificate (default: the system's "
          "store)");
        o("auth-header-file", &webhook_settings::auth_header_file, "FILE",
          "a file holding one header line sent with every request, e.g. 'Authorization: Bearer "
          "...' "
          "(kept out of ps and the config file)");
        o("connect-to", &webhook_settings::connect_to, "ADDRESS[:PORT]",
          "connect to this numeric address instead of the URL's host (the URL's name is still used "
          "for "
          "TLS and Host; no DNS lookup)");
        o("dns-server", &webhook_settings::dns_servers, "IP[:PORT]",
          "look the URL's host name up with this name server ([IPv6]:PORT with a port; "
          "repeatable; default: those of /etc/resolv.conf)");
    }

    /// Parses the URL, reads the secret header, loads the CAs (a new client: a reload picks up
    /// a changed CA or secret file). One line and exit 78 at start; a reload keeps the old value.
    void check() {
        if (url.empty())
            throw cm::settings_error{"--url: none given; the policy endpoint is needed"};
        std::string why;
        endpoint = cm::http::parse_url(url, &why);
        if (!endpoint) throw cm::settings_error{"--url: '" + url + "': " + why};
        if (!headers.empty() && stage != webhook_parts::ask_at::eom)
            throw cm::settings_error{"--header: headers are only known at --stage eom"};
        for (const auto& h : headers)
            if (h.empty() ||
                std::ranges::any_of(h, [](char c) { return c <= ' ' || c >= 127 || c == ':'; }))
                throw cm::settings_error{"--header: '" + h + "' is not a header field name"};
        request_fields = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
        if (!auth_header_file.empty()) request_fields.push_back(read_auth_header(auth_header_file));
        for (const auto& server : dns_servers)
            if (auto why = cm::dns::resolver::check_servers({server}); !why.empty())
                throw cm::settings_error{"--dns-server: " + why};
        try {
            client = std::make_shared<cm::http::client>(
                cm::http::client_options{.ca_file = ca_file,
                                         .verify = true,
                                         .connect_to = connect_to,
                                         .dns_servers = dns_servers,
                                         .max_body = 64 * 1024});
        } catch (const cm::http::error& e) {
            const std::string_view what = e.what();
            // Not a name server: those were checked one by one above, naming the one refused.
            throw cm::settings_error{
                (what.starts_with("connect-to") ? "--connect-to: " : "--ca-file: ") +
                std::string{what}};
        }
    }

    /// "Name: value" from the first line of `path`.
    static cm::http::field read_auth_header(const std::string& path) {
        const std::string where = "--auth-header-file " + path;
        std::ifstream in{path, std::ios::binary};
        if (!in)
            throw cm::settings_error{where +
                                     ": cannot be read: " + std::generic_category().message(errno)};
        std::string line;
        std::getline(in, line);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
            line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos || colon == 0)
            throw cm::settings_error{where + ": the first line is not 'Name: value'"};
        std::string name = line.substr(0, colon), value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t") == std::string::npos
                           ? value.size()
                           : value.find_first_not_of(" \t"));
        if (std::ranges::any_of(name, [](char c) { return c <= ' ' || c >= 127; }) ||
            std::ranges::any_of(value, [](char c) { return (c < ' ' && c != '\t') || c == 127; }))
            throw cm::settings_error{
                where + ": the header name or value holds characters HTTP does not allow"};
        return {std::move(name), std::move(value)};
    }
};

/// The settings the running server uses: from the command line and --config, replaced on
/// SIGHUP. Each message keeps the value it started with (pinned at MAIL FROM).
inline cm::settings<webhook_settings> webhook_options;

namespace webhook_parts {

// ---- The document sent -------------------------------------------------------------------

/// Text from the client or the message as a JSON string: JSON needs UTF-8, so bytes that are
/// not UTF-8 become U+FFFD.
inline boost::json::string json_text(std::string_view s) {
    if (cm::mail::is_valid_utf8(s)) return boost::json::string{s};
    return boost::json::string{cm::mail::to_utf8("UTF-8", s).value_or("")};
}

/// Every macro the milter asks the MTA for (PROTOCOL.md §3.2; Postfix's names). Only those
/// the MTA sent appear in the document.
inline constexpr std::array<std::string_view, 22> macro_names{"j",
                                                              "_",
                                                              "{daemon_name}",
                                                              "{daemon_addr}",
                                                              "{client_ptr}",
                                                              "{client_connections}",
                                                              "{tls_version}",
                                                              "{cipher}",
                                                              "{cipher_bits}",
                                                              "{cert_subject}",
                                                              "{cert_issuer}",
                                                              "i",
                                                              "{auth_type}",
                                                              "{auth_authen}",
                                                              "{auth_author}",
                                                              "{mail_mailer}",
                                                              "{mail_host}",
                                                              "{mail_addr}",
                                                              "{rcpt_mailer}",
                                                              "{rcpt_host}",
                                                              "{rcpt_addr}",
                                                              "v"};

struct recipient {
    std::string address;
    std::vector<std::string> args;
};

/// What the document says, collected over the stages.
struct transaction {
    std::optional<std::string> client_address;
    std::optional<std::uint16_t> client_port;
    std::string client_name;
    std::string family; ///< "inet", "inet6", "unix", "unknown"
    std::optional<std::string> helo;
    std::string sender;
    std::vector<std::string> sender_args;
    std::vector<recipient> recipients;
};

inline boost::json::array json_strings(const std::vector<std::string>& v) {
    boost::json::array out;
    for (const auto& s : v)
        out.push_back(json_text(s));
    return out;
}

/// The JSON document. `macros` is called with each name of macro_names and returns its value
/// or nullopt; `headers` (at eom) are the chosen fields, in message order.
template <class MacroLookup>
std::string document(ask_at stage, const transaction& t, MacroLookup&& macros,
                     const std::vector<cm::header_field>* headers = nullptr) {
    namespace json = boost::json;
    json::object connection{
        {"address",
         t.client_address ? json::value(json_text(*t.client_address)) : json::value(nullptr)},
        {"port", t.client_port ? json::value(*t.client_port) : json::value(nullptr)},
        {"name", json_text(t.client_name)},
        {"family", t.family},
    };
    json::array recipients;
    for (const auto& r : t.recipients)
        recipients.push_back(
            json::object{{"address", json_text(r.address)}, {"args", json_strings(r.args)}});
    json::object envelope{
        {"sender", json_text(t.sender)},
        {"sender_args", json_strings(t.sender_args)},
        {"recipients", std::move(recipients)},
    };
    json::object macro_values;
    for (auto name : macro_names)
        if (auto v = macros(name)) macro_values[name] = json_text(*v);
    json::object doc{
        {"stage", to_string(stage)},
        {"connection", std::move(connection)},
        {"helo", t.helo ? json::value(json_text(*t.helo)) : json::value(nullptr)},
        {"envelope", std::move(envelope)},
        {"macros", std::move(macro_values)},
    };
    if (headers) {
        json::array fields;
        for (const auto& h : *headers)
            fields.push_back(json::object{
                {"name", json_text(h.name)},
                {"value", json_text(cm::mail::decode_unstructured(cm::mail::unfold(h.value)))},
                {"raw", json_text(h.value)},
            });
        doc["headers"] = std::move(fields);
    }
    return json::serialize(doc);
}

// ---- The answer --------------------------------------------------------------------------

/// The endpoint's answer, checked: a verdict and the headers to add.
struct decision {
    cm::verdict verdict = cm::next;
    std::vector<cm::add_header> add_headers;
};

/// Why an answer was refused (one line for the log).
struct bad_answer : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline constexpr std::size_t max_reply_text = 400; // an SMTP reply line is at most 512 bytes
inline constexpr std::size_t max_added_headers = 16;
inline constexpr std::size_t max_header_line = 998; // RFC 5322 §2.1.1, name + ": " + value

inline bool printable_ascii(std::string_view s) {
    return std::ranges::all_of(s, [](char c) { return c >= ' ' && c < 127; });
}

/// Checks `body` (the endpoint's JSON) and makes the verdict. Throws bad_answer.
inline decision parse_answer(std::string_view body, ask_at stage) {
    namespace json = boost::json;
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) throw bad_answer{"the answer is not JSON: " + ec.message()};
    const json::object* o = v.if_object();
    if (!o) throw bad_answer{"the answer is not a JSON object"};
    auto string_of = [&](std::string_view key) -> std::optional<std::string> {
        const json::value* x = o->if_contains(key);
        if (!x || x->is_null()) return std::nullopt;
        if (!x->is_string()) throw bad_answer{"\"" + std::string{key} + "\" is not a string"};
        return std::string{x->get_string()};
    };
    const auto action = string_of("action");
    if (!action) throw bad_answer{"no \"action\""};
    decision d;
    const bool refuses = *action == "reject" || *action == "tempfail";
    if (*action == "continue")
        d.verdict = cm::next;
    else if (*action == "accept")
        d.verdict = cm::accept;
    else if (*action == "discard")
        d.verdict = cm::discard;
    else if (!refuses)
        throw bad_answer{"\"action\": '" + *action +
                         "' is not continue, accept, reject, tempfail or discard"};

    const json::value* code_value = o->if_contains("code");
    const auto status = string_of("status");
    const auto message = string_of("message");
    const bool has_code = code_value && !code_value->is_null();
    if (!refuses && (has_code || status || message))
        throw bad_answer{"\"code\", \"status\" and \"message\" go only with reject or tempfail"};
    if (refuses) {
        const unsigned klass = *action == "reject" ? 5 : 4;
        unsigned code = klass == 5 ? 550 : 451;
        if (has_code) {
            if (!code_value->is_int64() && !code_value->is_uint64())
                throw bad_answer{"\"code\" is not a number"};
            const auto n = code_value->to_number<std::int64_t>();
            if (n / 100 != klass || n < 0 || n > 599)
                throw bad_answer{"\"code\" " + std::to_string(n) + " does not go with " + *action +
                                 " (" + std::to_string(klass) + "xx)"};
            code = static_cast<unsigned>(n);
        }
        std::string enhanced = status.value_or(klass == 5 ? "5.7.1" : "4.7.1");
        if (!enhanced.empty() && enhanced.front() - '0' != static_cast<int>(klass))
            throw bad_answer{"\"status\" '" + enhanced.substr(0, 20) + "' is not of class " +
                             std::to_string(klass)};
        const std::string text = message.value_or(
            klass == 5 ? "rejected by policy" : "policy unavailable, try again later");
        if (text.size() > max_reply_text)
            throw bad_answer{"\"message\" is over " + std::to_string(max_reply_text) + " bytes"};
        if (!printable_ascii(text))
            throw bad_answer{"\"message\" holds other than printable ASCII"};
        auto formatted = cm::proto::format_smtp_reply(code, enhanced, text);
        if (!formatted)
            throw bad_answer{"\"status\" '" + enhanced.substr(0, 20) +
                             "': " + formatted.error().message()};
        d.verdict = cm::reply(code, enhanced, text);
    }

    if (const json::value* add = o->if_contains("add_headers"); add && !add->is_null()) {
        const json::array* list = add->if_array();
        if (!list) throw bad_answer{"\"add_headers\" is not an array"};
        if (!list->empty() && stage != ask_at::eom)
            throw bad_answer{"\"add_headers\" only at end of message (--stage eom)"};
        if (!list->empty() && *action != "continue" && *action != "accept")
            throw bad_answer{"\"add_headers\" only with continue or accept"};
        if (list->size() > max_added_headers)
            throw bad_answer{"\"add_headers\" has over " + std::to_string(max_added_headers) +
                             " fields"};
        for (const auto& item : *list) {
            const json::object* h = item.if_object();
            const json::value* n = h ? h->if_contains("name") : nullptr;
            const json::value* val = h ? h->if_contains("value") : nullptr;
            if (!n || !val || !n->is_string() || !val->is_string())
                throw bad_answer{
                    "an \"add_headers\" entry is not {\"name\": string, \"value\": string}"};
            const std::string name{n->get_string()}, value{val->get_string()};
            if (name.empty() || name.size() > 76 ||
                std::ranges::any_of(name, [](char c) { return c <= ' ' || c >= 127 || c == ':'; }))
                throw bad_answer{"\"add_headers\": '" + name.substr(0, 80) +
                                 "' is not a header field name"};
            if (!cm::mail::is_valid_utf8(value) || std::ranges::any_of(value, [](char c) {
                    return (c >= 0 && c < ' ' && c != '\t') || c == 127;
                }))
                throw bad_answer{"\"add_headers\": the value of " + name +
                                 " holds control characters or is not UTF-8"};
            // Non-ASCII becomes RFC 2047 encoded words, so the header is 7-bit clean.
            const std::string encoded = cm::mail::encode_unstructured(value);
            if (name.size() + 2 + encoded.size() > max_header_line)
                throw bad_answer{"\"add_headers\": " + name + " is over " +
                                 std::to_string(max_header_line) + " bytes"};
            d.add_headers.push_back(cm::add_header{name, cm::mail::fold(name, encoded)});
        }
    }
    return d;
}

// ---- Asking, and the outage log ----------------------------------------------------------

/// Whether the last request failed: the first failure and the recovery are logged, the
/// failures between them are not (every thread shares it).
inline std::atomic<bool> endpoint_failing{false};

inline void note_failure(const std::string& why, const webhook_settings& s) {
    namespace log = cm::asio_server;
    if (!endpoint_failing.exchange(true))
        log::log_event(
            log::log_level::warning, 0, "webhook_failed",
            "webhook: the endpoint gives no usable answer; using --on-error until it recovers "
            "(logged once)",
            {{"url", s.url}, {"reason", why}});
    else if (log::log_enabled(log::log_level::debug))
        log::log_event(log::log_level::debug, 0, "webhook_failed", "webhook: failed again",
                       {{"reason", why}});
}

inline void note_success(const webhook_settings& s) {
    namespace log = cm::asio_server;
    if (endpoint_failing.load(std::memory_order_relaxed) && endpoint_failing.exchange(false))
        log::log_event(log::log_level::warning, 0, "webhook_recovered",
                       "webhook: the endpoint answers again", {{"url", s.url}});
}

inline cm::verdict error_verdict(on_error_verdict v) {
    switch (v) {
    case on_error_verdict::accept:
        return cm::next; // the message goes on as if unfiltered
    case on_error_verdict::reject:
        return cm::reply(550, "5.7.1", "policy check failed");
    case on_error_verdict::tempfail:
        break;
    }
    return cm::reply(451, "4.7.1", "policy check unavailable, try again later");
}

/// POSTs `doc` and makes the decision; every failure becomes --on-error.
inline boost::asio::awaitable<decision> ask(const webhook_settings& s, std::string doc) {
    std::string why;
    try {
        auto r = co_await s.client->post(*s.endpoint, std::move(doc), s.request_fields, s.timeout);
        if (r.status / 100 != 2) {
            why = "HTTP status " + std::to_string(r.status);
        } else {
            decision d = parse_answer(r.body, s.stage);
            note_success(s);
            co_return d;
        }
    } catch (const cm::http::error& e) {
        why = e.what();
    } catch (const bad_answer& e) {
        why = e.what();
    } catch (const std::exception& e) { // a socket option refused, memory: still --on-error
        why = e.what();
    }
    note_failure(why, s);
    co_return decision{error_verdict(s.on_error), {}};
}

// ---- The milter --------------------------------------------------------------------------

struct connection_state {
    transaction facts; ///< what CONNECT and HELO said; copied into each message
};
struct message_state {
    std::shared_ptr<const webhook_settings> settings; ///< pinned at MAIL FROM
    transaction facts;
};

template <class Context>
auto macro_reader(const Context& ctx) {
    return [&ctx](std::string_view name) -> std::optional<std::string_view> {
        auto v = ctx.macro(name);
        if (v && v->empty()) return std::nullopt;
        return v;
    };
}

} // namespace webhook_parts

inline constexpr auto webhook = cm::milter<cm::connection_scoped<webhook_parts::connection_state>,
                                           cm::message_scoped<webhook_parts::message_state>>(
    cm::macros<cm::stage::connect, "j", "_", "{daemon_name}", "{daemon_addr}", "{client_ptr}",
               "{client_connections}", "v">{},
    cm::macros<cm::stage::helo, "{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}",
               "{cert_issuer}">{},
    cm::macros<cm::stage::mail_from, "i", "{auth_type}", "{auth_authen}", "{auth_author}",
               "{mail_mailer}", "{mail_host}", "{mail_addr}">{},
    cm::macros<cm::stage::rcpt, "{rcpt_mailer}", "{rcpt_host}", "{rcpt_addr}">{},
    cm::macros<cm::stage::end_of_message, "i">{},
    cm::on_connect([](const cm::connect_info& c, auto& ctx) {
        using family = cm::proto::address_family;
        auto& t = ctx.connection().facts;
        t = {};
        t.client_name = std::string{c.hostname};
        t.family = c.family == family::inet          ? "inet"
                   : c.family == family::inet6       ? "inet6"
                   : c.family == family::unix_socket ? "unix"
                                                     : "unknown";
        if (c.family != family::unknown) t.client_address = std::string{c.address};
        if (c.family == family::inet || c.family == family::inet6) t.client_port = c.port;
    }),
    cm::on_helo([](const cm::helo_info& h, auto& ctx) {
        ctx.connection().facts.helo = std::string{h.name};
    }),
    cm::on_mail_from([](const cm::mail_from& m, auto& ctx) -> boost::asio::awaitable<cm::verdict> {
        auto& msg = ctx.message();
        msg.settings = webhook_options.pin();
        msg.facts = ctx.connection().facts;
        msg.facts.sender = std::string{m.address};
        for (auto a : m.esmtp_args)
            msg.facts.sender_args.emplace_back(a);
        if (msg.settings->stage != webhook_parts::ask_at::mail) co_return cm::next;
        const auto settings = msg.settings; // the message state may be reset while we wait
        auto d = co_await webhook_parts::ask(
            *settings,
            webhook_parts::document(settings->stage, msg.facts, webhook_parts::macro_reader(ctx)));
        co_return d.verdict;
    }),
    cm::on_rcpt([](const cm::rcpt& r, auto& ctx) -> boost::asio::awaitable<cm::verdict> {
        auto& msg = ctx.message();
        if (!msg.settings) msg.settings = webhook_options.pin();
        webhook_parts::recipient added{std::string{r.address}, {}};
        for (auto a : r.esmtp_args)
            added.args.emplace_back(a);
        msg.facts.recipients.push_back(std::move(added));
        if (msg.settings->stage != webhook_parts::ask_at::rcpt) co_return cm::next;
        const auto settings = msg.settings;
        auto d = co_await webhook_parts::ask(
            *settings,
            webhook_parts::document(settings->stage, msg.facts, webhook_parts::macro_reader(ctx)));
        // A refused recipient is not one of the message's: the next RCPT's document omits it.
        // (Looked up again: the state is the connection's, and may have been reset meanwhile.)
        auto& recipients = ctx.message().facts.recipients;
        if (d.verdict.what() != cm::verdict::kind::next &&
            d.verdict.what() != cm::verdict::kind::accept && !recipients.empty())
            recipients.pop_back();
        co_return d.verdict;
    }),
    cm::on_end_of_message([](const cm::message_headers& m,
                             auto& ctx) -> boost::asio::awaitable<cm::eom<cm::add_header>> {
        auto& msg = ctx.message();
        if (!msg.settings) msg.settings = webhook_options.pin();
        const auto settings = msg.settings;
        if (settings->stage != webhook_parts::ask_at::eom) co_return cm::next;
        std::vector<cm::header_field> chosen;
        for (const auto& h : m.headers)
            if (std::ranges::any_of(settings->headers, [&](const std::string& n) {
                    return cm::mail::iequals(n, h.name);
                }))
                chosen.push_back(h);
        auto d = co_await webhook_parts::ask(
            *settings, webhook_parts::document(settings->stage, msg.facts,
                                               webhook_parts::macro_reader(ctx), &chosen));
        cm::eom<cm::add_header> result{d.verdict};
        for (auto& h : d.add_headers)
            result.add(std::move(h));
        co_return result;
    }));

} // namespace examples
