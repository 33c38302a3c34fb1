// The audit milter, shared by its program and its tests: one JSON line per message
// transaction, for the mail log an auditor reads.
//
// It only observes: every hook returns void, so the MTA is told not to wait for any answer
// (SMFIP_NR_* for every stage; end of message, which the protocol always answers, is answered
// at once). Each line says who connected (address, port, name, HELO, TLS, SMTP AUTH user),
// the envelope, chosen header fields decoded to UTF-8, the body size, the queue id, how the
// transaction ended ("end_of_message" or "aborted") and how long its stages took. Lines go to
// stdout, a file (--output FILE, reopened on SIGHUP for logrotate) or syslog.
// docs/examples/audit.md has the fields and the options.
#pragma once

#include <cppmilter/asio/log.hpp>
#include <cppmilter/cppmilter.hpp>
#include <cppmilter/mail/charset.hpp>
#include <cppmilter/mail/encoded_word.hpp>
#include <cppmilter/mail/header.hpp>
#include <cppmilter/settings.hpp>

#include <boost/json.hpp> // the one TU that includes <boost/json/src.hpp> compiles it

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

namespace examples {
namespace cm = cppmilter;

namespace audit_parts {

/// Where lines go: a file descriptor (stdout, or a file opened with O_APPEND) or syslog. Each
/// line is one write(2): lines of several threads never interleave, and a write to a local
/// file does not wait for the disk (the page cache takes it). The descriptor is closed when
/// the last message that uses it is done, so a reload (SIGHUP) never cuts a line.
class sink {
public:
    /// "-" (stdout), "syslog", or a file path (created 0640, appended to). Throws
    /// cm::settings_error when the file cannot be opened.
    explicit sink(const std::string& where) {
        if (where == "-") {
            fd_ = STDOUT_FILENO;
        } else if (where == "syslog") {
            syslog_ = true;
            static std::once_flag once;
            std::call_once(once, [] { openlog("audit", LOG_PID | LOG_NDELAY, LOG_MAIL); });
        } else {
            fd_ = ::open(where.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
            if (fd_ < 0)
                throw cm::settings_error{"--output " + where + ": cannot be opened: " +
                                         std::generic_category().message(errno)};
            owned_ = true;
        }
    }
    ~sink() {
        if (owned_) ::close(fd_);
    }
    sink(const sink&) = delete;
    sink& operator=(const sink&) = delete;

    /// Writes `line` and a newline. A failure is logged once per sink, not per line.
    void write(std::string line) const noexcept {
        if (syslog_) {
            ::syslog(LOG_INFO, "%s", line.c_str());
            return;
        }
        line += '\n';
        std::string_view rest = line;
        while (!rest.empty()) {
            const auto n = ::write(fd_, rest.data(), rest.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                if (!failed_.exchange(true))
                    cm::asio_server::log_event(
                        cm::asio_server::log_level::error, 0, "audit_write_failed",
                        "audit: cannot write a line (logged once for this output)",
                        {{"reason", std::generic_category().message(errno)}});
                return;
            }
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
    }

private:
    int fd_ = -1;
    bool owned_ = false;
    bool syslog_ = false;
    mutable std::atomic<bool> failed_{false};
};

} // namespace audit_parts

// ---- Options -----------------------------------------------------------------------------

struct audit_settings {
    std::string output = "-";         ///< --output
    std::vector<std::string> headers; ///< --header NAME; empty: the default list

    // Derived by check():
    std::vector<std::string> chosen_headers;
    std::shared_ptr<const audit_parts::sink> out;

    static void declare(cm::option_list<audit_settings>& o) {
        o("output", &audit_settings::output, "FILE|-|syslog",
          "where the lines go: a file (appended to, reopened on SIGHUP), - for stdout (default), "
          "or "
          "syslog (facility mail)");
        o("header", &audit_settings::headers, "NAME",
          "record the header fields called NAME (repeatable; default From, To, Subject, "
          "Message-ID, Date)");
    }

    /// Opens the output: a fresh value holds the new descriptor, so SIGHUP (which re-runs this)
    /// reopens a file that logrotate moved away.
    void check() {
        chosen_headers = headers.empty() ? std::vector<std::string>{"From", "To", "Subject",
                                                                    "Message-ID", "Date"}
                                         : headers;
        for (const auto& h : chosen_headers)
            if (h.empty() ||
                std::ranges::any_of(h, [](char c) { return c <= ' ' || c >= 127 || c == ':'; }))
                throw cm::settings_error{"--header: '" + h + "' is not a header field name"};
        if (output.empty()) throw cm::settings_error{"--output: empty (give a file, - or syslog)"};
        out = std::make_shared<const audit_parts::sink>(output);
    }
};

/// The settings the running server uses (replaced on SIGHUP, pinned by each message at MAIL).
inline cm::settings<audit_settings> audit_options;

namespace audit_parts {

using steady = std::chrono::steady_clock;

/// Text from the client or the message as a JSON string (bytes that are not UTF-8 → U+FFFD).
inline boost::json::value text(std::string_view s) {
    if (cm::mail::is_valid_utf8(s)) return boost::json::string{s};
    return boost::json::string{cm::mail::to_utf8("UTF-8", s).value_or("")};
}
inline boost::json::value text_or_null(const std::optional<std::string>& s) {
    return s ? text(*s) : boost::json::value(nullptr);
}
/// A macro's value, nullopt when absent or empty.
inline std::optional<std::string> present(std::optional<std::string_view> v) {
    if (!v || v->empty()) return std::nullopt;
    return std::string{*v};
}

/// RFC 3339 UTC with milliseconds.
inline std::string utc_time(std::chrono::system_clock::time_point t) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    char out[40];
    const auto n = std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S", &parts);
    std::snprintf(out + n, sizeof out - n, ".%03dZ", static_cast<int>(ms % 1000));
    return out;
}

inline std::atomic<std::uint64_t> next_connection{1};

struct connection_state {
    std::uint64_t id = 0; ///< ours, counted from 1 per process (the server's own is not exposed)
    std::optional<std::string> client_address, client_name, helo;
    std::optional<std::uint16_t> client_port;
    steady::time_point connected{};
    std::uint64_t messages = 0;
};

struct message_state {
    std::shared_ptr<const audit_settings> settings; ///< pinned at MAIL FROM; null: no MAIL seen
    std::chrono::system_clock::time_point started{};
    steady::time_point mail{};
    std::optional<steady::time_point> first_rcpt, data, end_of_headers;
    std::string sender;
    std::vector<std::string> recipients;
    std::vector<cm::header_field> headers; ///< the chosen ones, as received
    std::uint64_t body_bytes = 0;
    std::optional<std::string> queue_id, auth_user, auth_type, tls_version, tls_cipher,
        tls_cipher_bits;
};

/// The line of one transaction. `outcome`: "end_of_message" or "aborted".
inline std::string line(const connection_state& c, const message_state& m, std::string_view outcome,
                        std::optional<std::string> queue_id, steady::time_point ended) {
    namespace json = boost::json;
    auto us = [](steady::duration d) -> std::int64_t {
        return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    };
    auto since_mail = [&](std::optional<steady::time_point> t) -> json::value {
        if (!t) return nullptr;
        return us(*t - m.mail);
    };
    json::array recipients;
    for (const auto& r : m.recipients)
        recipients.push_back(text(r));
    json::object headers;
    for (const auto& name : m.settings->chosen_headers) {
        json::array values;
        for (const auto& h : m.headers)
            if (cm::mail::iequals(h.name, name))
                values.push_back(text(cm::mail::decode_unstructured(cm::mail::unfold(h.value))));
        if (!values.empty()) headers[name] = std::move(values);
    }
    json::object o{
        {"time", utc_time(m.started)},
        {"connection", c.id},
        {"message", c.messages},
        {"client_address", text_or_null(c.client_address)},
        {"client_port", c.client_port ? json::value(*c.client_port) : json::value(nullptr)},
        {"client_name", text_or_null(c.client_name)},
        {"helo", text_or_null(c.helo)},
        {"tls", m.tls_version ? json::value(json::object{{"version", text(*m.tls_version)},
                                                         {"cipher", text_or_null(m.tls_cipher)},
                                                         {"bits", text_or_null(m.tls_cipher_bits)}})
                              : json::value(nullptr)},
        {"auth_user", text_or_null(m.auth_user)},
        {"auth_type", text_or_null(m.auth_type)},
        {"queue_id", text_or_null(queue_id ? queue_id : m.queue_id)},
        {"sender", text(m.sender)},
        {"recipients", std::move(recipients)},
        {"headers", std::move(headers)},
        {"size", m.body_bytes},
        {"outcome", outcome},
        {"timings_us", json::object{{"connect_to_mail", us(m.mail - c.connected)},
                                    {"first_rcpt", since_mail(m.first_rcpt)},
                                    {"data", since_mail(m.data)},
                                    {"end_of_headers", since_mail(m.end_of_headers)},
                                    {"end", since_mail(ended)}}},
    };
    return json::serialize(o);
}

template <class Context>
void write_line(Context& ctx, std::string_view outcome, std::optional<std::string> queue_id) {
    auto& m = ctx.message();
    if (!m.settings) return; // no MAIL FROM: no transaction to tell of
    m.settings->out->write(line(ctx.connection(), m, outcome, std::move(queue_id), steady::now()));
    m.settings.reset(); // written: an ABORT or close after this has nothing more to say
}

} // namespace audit_parts

inline constexpr auto audit = cm::milter<cm::connection_scoped<audit_parts::connection_state>,
                                         cm::message_scoped<audit_parts::message_state>>(
    cm::macros<cm::stage::helo, "{tls_version}", "{cipher}", "{cipher_bits}">{},
    cm::macros<cm::stage::mail_from, "i", "{auth_authen}", "{auth_type}">{},
    cm::macros<cm::stage::end_of_message, "i">{},
    cm::on_connect([](const cm::connect_info& c, auto& ctx) {
        using family = cm::proto::address_family;
        auto& conn = ctx.connection();
        conn = {};
        conn.id = audit_parts::next_connection.fetch_add(1, std::memory_order_relaxed);
        conn.connected = audit_parts::steady::now();
        conn.client_name = audit_parts::present(c.hostname);
        if (c.family != family::unknown) conn.client_address = audit_parts::present(c.address);
        if (c.family == family::inet || c.family == family::inet6) conn.client_port = c.port;
    }),
    cm::on_helo(
        [](const cm::helo_info& h, auto& ctx) { ctx.connection().helo = std::string{h.name}; }),
    cm::on_mail_from([](const cm::mail_from& m, auto& ctx) {
        auto& msg = ctx.message();
        msg.settings = audit_options.pin();
        msg.started = std::chrono::system_clock::now();
        msg.mail = audit_parts::steady::now();
        msg.sender = std::string{m.address};
        ++ctx.connection().messages;
        msg.queue_id = audit_parts::present(cm::macro<"i">(ctx));
        msg.auth_user = audit_parts::present(cm::macro<"auth_authen">(ctx));
        msg.auth_type = audit_parts::present(cm::macro<"auth_type">(ctx));
        // TLS is negotiated before HELO is repeated, so its macros come with HELO (and stay).
        msg.tls_version = audit_parts::present(cm::macro<"tls_version">(ctx));
        msg.tls_cipher = audit_parts::present(cm::macro<"cipher">(ctx));
        msg.tls_cipher_bits = audit_parts::present(cm::macro<"cipher_bits">(ctx));
    }),
    cm::on_rcpt([](const cm::rcpt& r, auto& ctx) {
        auto& msg = ctx.message();
        if (!msg.first_rcpt) msg.first_rcpt = audit_parts::steady::now();
        msg.recipients.emplace_back(r.address);
    }),
    cm::on_data(
        [](const cm::data_info&, auto& ctx) { ctx.message().data = audit_parts::steady::now(); }),
    cm::on_header([](const cm::header& h, auto& ctx) {
        auto& msg = ctx.message();
        if (!msg.settings) return;
        const auto& names = msg.settings->chosen_headers;
        if (std::ranges::any_of(names,
                                [&](const std::string& n) { return cm::mail::iequals(n, h.name); }))
            msg.headers.push_back({std::string{h.name}, std::string{h.value}});
    }),
    cm::on_end_of_headers([](const cm::end_of_headers_info&, auto& ctx) {
        ctx.message().end_of_headers = audit_parts::steady::now();
    }),
    cm::on_body(
        [](const cm::body_chunk& b, auto& ctx) { ctx.message().body_bytes += b.chunk.size(); }),
    cm::on_end_of_message([](const cm::end_of_message&, auto& ctx) {
        audit_parts::write_line(ctx, "end_of_message", audit_parts::present(cm::macro<"i">(ctx)));
    }),
    // Postfix sends ABORT after every message: only a transaction not yet written is told
    // here (RSET, a new MAIL, a client that vanished mid-message: the server calls this too).
    cm::on_abort([](const cm::abort_info&, auto& ctx) {
        audit_parts::write_line(ctx, "aborted", std::nullopt);
    }));

} // namespace examples
