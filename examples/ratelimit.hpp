// The ratelimit milter, shared by its program and its tests: counts messages (or recipients)
// per sender, sender domain, SMTP AUTH login or client address in Redis, and answers
// `451 4.7.1` with the time the window frees up when a limit is reached.
//
// Where it decides: with --count messages (the default) at MAIL FROM, one count per message;
// with --count recipients at each RCPT TO, one count per recipient. A message counted at MAIL
// FROM stays counted if it is later rejected, aborted or never sent: taking the count back at
// ABORT would need a second script per message and would let a client probe the limit for
// free; the window forgets it in time anyway.
//
// The window slides: each limit N/PERIOD keeps, per key, the counts of 60 buckets of
// PERIOD/60 (a Redis hash, expiring after PERIOD), and a count is allowed when the buckets
// that overlap the last PERIOD hold fewer than N. The window may count up to one bucket
// (PERIOD/60) of older events, never fewer than the last PERIOD. One Lua script checks every
// limit of the key and counts in all of them only if all allow it, atomically: instances that
// share one Redis share one count. Time is Redis's (TIME), so instances' clocks do not matter.
//
// When Redis cannot answer (down, slow beyond --redis-timeout, a bad reply), --on-error
// decides: accept (the default) lets the message through uncounted, tempfail answers
// `451 4.3.0`. Either way one warning is logged when the trouble starts and one when Redis
// answers again, not one per message. docs/examples/ratelimit.md describes it.
#pragma once

#include <cppmilter/asio/log.hpp>
#include <cppmilter/contrib/redis.hpp>
#include <cppmilter/cppmilter.hpp>
#include <cppmilter/mail/address.hpp>
#include <cppmilter/settings.hpp>

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace examples {
namespace cm = cppmilter;

namespace ratelimit_parts {

/// --key: what is counted against.
enum class key_kind { auth, sender, sender_domain, client };
/// --count: what one count is.
enum class count_kind { messages, recipients };
/// --on-error: the answer when Redis cannot give one.
enum class error_rule { accept, tempfail };

/// One --limit: at most `limit` counts in any `period`.
struct window {
    std::int64_t limit = 0;
    std::chrono::seconds period{0};
    std::string text; ///< as given: "100/1h"
};

/// "100/1h", "5/30s", "1000/1d", "10/m" (a unit alone is one of it); the period in s, m, h, d,
/// from 1 s to 366 d. Throws settings_error naming --limit.
inline window parse_window(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return cm::settings_error{"--limit: '" + std::string{text} + "' " + std::string{why} +
                                  " (N/PERIOD, e.g. 100/1h; PERIOD in s, m, h or d)"};
    };
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) throw bad("has no '/'");
    window w{0, std::chrono::seconds{0}, std::string{text}};
    const auto count = text.substr(0, slash);
    auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), w.limit);
    if (count.empty() || ec != std::errc{} || end != count.data() + count.size() || w.limit < 1 || w.limit > 1'000'000'000)
        throw bad("does not start with a count from 1 to 1000000000");
    auto period = text.substr(slash + 1);
    if (period.empty()) throw bad("has no period");
    std::int64_t unit = 0;
    switch (period.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: throw bad("has a period without a unit");
    }
    period.remove_suffix(1);
    std::int64_t n = 1;
    if (!period.empty()) {
        auto [e, c] = std::from_chars(period.data(), period.data() + period.size(), n);
        if (c != std::errc{} || e != period.data() + period.size() || n < 1) throw bad("has a period that is not a number");
    }
    if (n > 366 * 86400 / unit) throw bad("has a period over 366 days");
    w.period = std::chrono::seconds{n * unit};
    return w;
}

/// "1h", "90s" → "1h", "1m30s": for reply texts and log lines.
inline std::string duration_text(std::chrono::seconds d) {
    auto s = d.count();
    if (s <= 0) return "0s";
    std::string out;
    static constexpr std::pair<std::int64_t, char> units[]{{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    for (const auto& [unit, name] : units)
        if (s >= unit) {
            out += std::to_string(s / unit);
            out += name;
            s %= unit;
        }
    return out;
}

/// Text from the envelope made safe for an SMTP reply and a log line: printable ASCII kept,
/// other bytes shown as '?', cut after 100 bytes.
inline std::string printable(std::string_view text) {
    constexpr std::size_t limit = 100;
    std::string out;
    for (char c : text.substr(0, limit)) out += c >= 0x20 && c <= 0x7e ? c : '?';
    if (text.size() > limit) out += "...";
    return out;
}

inline std::string lower(std::string_view text) {
    std::string out{text};
    std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

/// Buckets per window (see the top of this file): the window's precision is PERIOD/60.
inline constexpr int buckets = 60;

/// KEYS: one hash per window. ARGV: cost, buckets, then limit and period (ms) per window.
/// Returns {1, 0, 0, 0} when counted, or {0, retry_ms, window (1-based), count} when a
/// window is full: nothing is counted then, and retry_ms is when enough of it has expired.
inline const cm::redis::script window_script{R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local nb = tonumber(ARGV[2])
local refused, refused_retry, refused_count = 0, 0, 0
local current = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local period = tonumber(ARGV[2 + 2 * i])
  local width = math.ceil(period / nb)
  local bucket = math.floor(now / width)
  current[i] = {bucket, width, period}
  -- Events newer than now - period may sit in bucket (bucket - nb): count from there.
  local oldest = bucket - nb
  local fields = redis.call('HGETALL', key)
  local total, live = 0, {}
  for j = 1, #fields, 2 do
    local b, c = tonumber(fields[j]), tonumber(fields[j + 1])
    if b < oldest then
      redis.call('HDEL', key, fields[j])
    else
      total = total + c
      live[#live + 1] = {b, c}
    end
  end
  if total + cost > limit then
    -- The earliest time enough old buckets have left the window for this count to fit.
    table.sort(live, function(x, y) return x[1] < y[1] end)
    local retry, freed = period, 0
    for _, e in ipairs(live) do
      freed = freed + e[2]
      if total - freed + cost <= limit then
        retry = (e[1] + nb + 1) * width - now
        break
      end
    end
    if retry > refused_retry then refused, refused_retry, refused_count = i, retry, total end
  end
end
if refused > 0 then return {0, refused_retry, refused, refused_count} end
for i, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, string.format('%d', current[i][1]), cost)
  redis.call('PEXPIRE', key, current[i][3] + 2 * current[i][2])
end
return {1, 0, 0, 0}
)lua"};

/// Logs one line when Redis stops answering and one when it answers again, whichever thread
/// notices first: not one per message.
class outage_log {
public:
    void failed(std::string_view server, std::string_view why, error_rule rule) {
        if (down_.exchange(true, std::memory_order_acq_rel)) return;
        namespace log = cm::asio_server;
        log::log_event(log::log_level::warning, 0, "redis_unavailable",
                       "ratelimit: redis " + std::string{server} + " unavailable (" + std::string{why} +
                           (rule == error_rule::accept ? "): accepting messages uncounted (--on-error accept)"
                                                       : "): answering 451 4.3.0 (--on-error tempfail)") +
                           " until it is back");
    }
    void answered(std::string_view server) {
        if (!down_.load(std::memory_order_relaxed) || !down_.exchange(false, std::memory_order_acq_rel)) return;
        namespace log = cm::asio_server;
        log::log_event(log::log_level::warning, 0, "redis_available",
                       "ratelimit: redis " + std::string{server} + " answers again: counting resumes");
    }
    bool down() const noexcept { return down_.load(std::memory_order_relaxed); }

private:
    std::atomic<bool> down_{false};
};

inline outage_log redis_outages;

} // namespace ratelimit_parts

struct ratelimit_options {
    using key_kind = ratelimit_parts::key_kind;
    using count_kind = ratelimit_parts::count_kind;
    using error_rule = ratelimit_parts::error_rule;

    key_kind key = key_kind::sender;
    count_kind count = count_kind::messages;
    std::vector<std::string> limit_texts;
    std::string prefix = "ratelimit:";
    std::string redis = "127.0.0.1:6379";
    std::string redis_user;
    std::string redis_password;
    int redis_db = 0;
    std::chrono::milliseconds redis_timeout{200};
    error_rule on_error = error_rule::accept;
    // Derived by check():
    std::vector<ratelimit_parts::window> windows;
    std::shared_ptr<const cm::redis::client> client;

    static void declare(cm::option_list<ratelimit_options>& o) {
        o("key", &ratelimit_options::key,
          {{"auth", key_kind::auth}, {"sender", key_kind::sender}, {"sender-domain", key_kind::sender_domain},
           {"client", key_kind::client}},
          "what is counted against: sender (default; the envelope sender, lower-cased), sender-domain "
          "(its domain), auth (the SMTP AUTH login, {auth_authen}; mail without one is not counted), "
          "client (the SMTP client's IP address). The null sender <> is never counted by sender or "
          "sender-domain");
        o("count", &ratelimit_options::count, {{"messages", count_kind::messages}, {"recipients", count_kind::recipients}},
          "messages (default): one per message, decided at MAIL FROM; recipients: one per recipient, "
          "decided at each RCPT TO");
        o("limit", &ratelimit_options::limit_texts, "N/PERIOD",
          "at most N in any PERIOD (s, m, h, d: 100/1h, 1000/1d); repeatable, each is a window of its own "
          "and all must allow a count; at least one is needed");
        o("prefix", &ratelimit_options::prefix, "TEXT", "start of every Redis key (default ratelimit:)");
        o("redis", &ratelimit_options::redis, "SPEC",
          "the Redis server: HOST:PORT, inet:PORT@HOST, unix:/path (default 127.0.0.1:6379; numeric hosts only)");
        o("redis-user", &ratelimit_options::redis_user, "NAME", "AUTH with this user (Redis 6 ACL; needs --redis-password)");
        o("redis-password", &ratelimit_options::redis_password, "TEXT", "AUTH with this password (put it in --config, not on the command line)");
        o("redis-db", &ratelimit_options::redis_db, "N", "SELECT this database (default 0)");
        o("redis-timeout", &ratelimit_options::redis_timeout, "DUR",
          "how long one Redis call may take, connecting included (default 200ms); then --on-error applies");
        o("on-error", &ratelimit_options::on_error, {{"accept", error_rule::accept}, {"tempfail", error_rule::tempfail}},
          "when Redis cannot answer: accept (default) lets mail through uncounted; tempfail answers 451 4.3.0");
    }

    void check() {
        if (limit_texts.empty()) throw cm::settings_error{"--limit: at least one is needed (e.g. --limit 100/1h)"};
        windows.clear();
        for (const auto& text : limit_texts) {
            auto w = ratelimit_parts::parse_window(text);
            for (const auto& other : windows)
                if (other.period == w.period)
                    throw cm::settings_error{"--limit: '" + other.text + "' and '" + w.text + "' have the same period"};
            windows.push_back(std::move(w));
        }
        if (redis_timeout.count() > 60'000) throw cm::settings_error{"--redis-timeout: at most 60s"};
        if (redis_db < 0) throw cm::settings_error{"--redis-db: must be 0 or more"};
        if (!redis_user.empty() && redis_password.empty())
            throw cm::settings_error{"--redis-user: needs --redis-password"};
        cm::redis::options r;
        r.server = redis;
        r.user = redis_user;
        r.password = redis_password;
        r.database = redis_db;
        r.timeout = redis_timeout;
        try {
            client = std::make_shared<const cm::redis::client>(std::move(r));
        } catch (const std::invalid_argument& e) {
            throw cm::settings_error{"--redis: " + std::string{e.what()}};
        }
    }
};

/// The options the running server uses; each message keeps the value it had at MAIL FROM.
inline cm::settings<ratelimit_options> ratelimit_settings;

namespace ratelimit_parts {

struct connection_state {
    std::string client_address; ///< from CONNECT
};
struct message_state {
    std::shared_ptr<const ratelimit_options> options; ///< pinned at MAIL FROM
    std::string key;                                  ///< what is counted against; empty: nothing
    std::string shown;                                ///< the key for the reply text: "sender alice@example.org"
};

/// The value counted against, lower-cased; empty when this message is not counted.
inline std::string key_value(key_kind kind, std::string_view sender, std::string_view auth, std::string_view client) {
    switch (kind) {
    case key_kind::auth: return std::string{auth};
    case key_kind::client: return lower(client);
    case key_kind::sender:
    case key_kind::sender_domain: {
        const auto address = cm::mail::unbracketed(sender);
        if (address.empty()) return {}; // the null sender: bounces are not held back
        if (kind == key_kind::sender) return lower(address);
        const auto at = address.rfind('@');
        return at == std::string_view::npos ? std::string{} : lower(address.substr(at + 1));
    }
    }
    return {};
}

inline std::string_view key_name(key_kind kind) {
    switch (kind) {
    case key_kind::auth: return "auth";
    case key_kind::sender: return "sender";
    case key_kind::sender_domain: return "sender-domain";
    case key_kind::client: return "client";
    }
    return "";
}

/// One count for `m` against every window: next, the limit's 451, or --on-error's answer.
inline boost::asio::awaitable<cm::verdict> take(const message_state& m) {
    const ratelimit_options& o = *m.options;
    std::vector<std::string> keys, args{"1", std::to_string(buckets)};
    for (const auto& w : o.windows) {
        // The hash tag {...} keeps every window of one key in one Redis Cluster slot.
        keys.push_back(o.prefix + "{" + std::string{key_name(o.key)} + ":" + m.key + "}:" + std::to_string(w.period.count()));
        args.push_back(std::to_string(w.limit));
        args.push_back(std::to_string(std::chrono::milliseconds{w.period}.count()));
    }
    std::string failure;
    try {
        const auto r = co_await o.client->eval(window_script, std::move(keys), std::move(args));
        using kind = cm::redis::reply::kind;
        const bool shaped = r.type == kind::array && r.elements.size() == 4 &&
                            std::ranges::all_of(r.elements, [](const auto& e) { return e.type == kind::integer; });
        if (shaped) {
            redis_outages.answered(o.client->name());
            if (r.elements[0].integer == 1) co_return cm::next;
            const auto index = r.elements[2].integer;
            const auto& w = o.windows.at(static_cast<std::size_t>(std::clamp<std::int64_t>(index, 1, std::ssize(o.windows)) - 1));
            const auto retry = std::chrono::seconds{(r.elements[1].integer + 999) / 1000};
            const std::string what = o.count == count_kind::messages ? "messages" : "recipients";
            namespace log = cm::asio_server;
            if (log::log_enabled(log::log_level::info))
                log::log_line(log::log_level::info, 0,
                              "ratelimit: over limit " + w.text + " " + m.shown + " count=" +
                                  std::to_string(r.elements[3].integer) + " retry=" + duration_text(retry));
            co_return cm::reply(451, "4.7.1",
                                "too many " + what + " from " + m.shown + ": limit " + std::to_string(w.limit) + " per " +
                                    duration_text(w.period) + "; try again in " + duration_text(retry));
        }
        failure = r.is_error() ? "script failed: " + printable(r.text) : "unexpected script reply";
    } catch (const cm::redis::error& e) {
        if (e.code() == cm::redis::errc::cancelled) throw; // the hook timeout: the server answers --fallback
        // Fast failures while the connection waits for its backoff follow a failure already logged.
        if (e.code() != cm::redis::errc::unavailable) {
            failure = e.what();
            // "redis HOST:PORT: why": the log line names the server already.
            if (const auto named = "redis " + o.client->name() + ": "; failure.starts_with(named)) failure.erase(0, named.size());
        }
    }
    if (!failure.empty()) redis_outages.failed(o.client->name(), failure, o.on_error);
    if (o.on_error == error_rule::accept) co_return cm::next;
    co_return cm::reply(451, "4.3.0", "rate limit service unavailable, try again later");
}

} // namespace ratelimit_parts

inline constexpr auto ratelimit = cm::milter<cm::connection_scoped<ratelimit_parts::connection_state>,
                                             cm::message_scoped<ratelimit_parts::message_state>>(
    cm::macros<cm::stage::mail_from, "{auth_authen}">{},
    cm::on_connect([](const cm::connect_info& c, auto& ctx) { ctx.connection().client_address = c.address; }),
    cm::on_mail_from([](const cm::mail_from& m, auto& ctx) -> boost::asio::awaitable<cm::verdict> {
        using namespace ratelimit_parts;
        auto& message = ctx.message();
        message.options = ratelimit_settings.pin();
        const auto& o = *message.options;
        const auto auth = cm::macro<"auth_authen">(ctx);
        message.key = key_value(o.key, m.address, auth.value_or(""), ctx.connection().client_address);
        message.shown = std::string{key_name(o.key)} + " " + printable(message.key);
        if (message.key.empty() || o.count != count_kind::messages) co_return cm::next;
        co_return co_await take(message);
    }),
    cm::on_rcpt([](const cm::rcpt&, auto& ctx) -> boost::asio::awaitable<cm::verdict> {
        using namespace ratelimit_parts;
        const auto& message = ctx.message();
        if (!message.options || message.key.empty() || message.options->count != count_kind::recipients)
            co_return cm::next;
        co_return co_await take(message);
    }));

} // namespace examples
