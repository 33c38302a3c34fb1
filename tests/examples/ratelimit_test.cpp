// The ratelimit milter in-process (cm::testing::harness plays Postfix) against a private
// redis-server: limits and their retry hints, keys, recipients, shared counts, settings
// pinned at MAIL FROM, and what happens while Redis is down.
#define BOOST_TEST_MODULE cppmilter ratelimit example
#include "ratelimit.hpp"
#include "redis_server.hpp"

#include <cppmilter/testing/harness.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <thread>

namespace cm = cppmilter;
namespace rl = examples::ratelimit_parts;
using examples::ratelimit;
using examples::ratelimit_options;
using examples::ratelimit_settings;
using cm::testing::harness;
using namespace std::chrono_literals;

namespace {

/// Options for `server` with the given limits (and the rest as the defaults).
ratelimit_options options(const test_redis::server& server, std::vector<std::string> limits) {
    ratelimit_options o;
    o.redis = server.spec();
    o.limit_texts = std::move(limits);
    return o;
}

/// MAIL FROM `sender`, its answer, then ABORT (as Postfix ends every transaction).
std::string mail(harness<std::remove_cvref_t<decltype(ratelimit)>>& h, std::string_view sender) {
    const auto answer = h.mail_from(sender).str();
    h.abort();
    return answer;
}

bool matches(const std::string& text, const std::string& pattern) { return std::regex_match(text, std::regex{pattern}); }

std::int64_t redis_time_ms(const test_redis::server& server) {
    const auto t = server({"TIME"});
    return std::stoll(t.elements.at(0).text) * 1000 + std::stoll(t.elements.at(1).text) / 1000;
}

std::string show_counts(const test_redis::server& server, const std::string& key) {
    std::string out;
    for (const auto& e : server({"HGETALL", key}).elements) out += " " + e.text;
    return out;
}

/// Sends what the process writes to stderr (the log) to a file while it lives.
class stderr_capture {
public:
    stderr_capture() {
        char name[] = "/tmp/cppmilter-ratelimit-log-XXXXXX";
        const int fd = ::mkstemp(name);
        path_ = name;
        saved_ = ::dup(2);
        ::dup2(fd, 2);
        ::close(fd);
    }
    ~stderr_capture() {
        ::dup2(saved_, 2);
        ::close(saved_);
        ::unlink(path_.c_str());
    }
    std::string text() const {
        std::ifstream in{path_};
        return {std::istreambuf_iterator<char>{in}, {}};
    }
    std::size_t count(std::string_view what) const {
        const auto t = text();
        std::size_t n = 0;
        for (auto at = t.find(what); at != std::string::npos; at = t.find(what, at + 1)) ++n;
        return n;
    }

private:
    std::string path_;
    int saved_ = -1;
};

} // namespace

// ---- Options --------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(ratelimit_settings_check)

BOOST_AUTO_TEST_CASE(limits) {
    BOOST_TEST(rl::parse_window("100/1h").limit == 100);
    BOOST_TEST(rl::parse_window("100/1h").period.count() == 3600);
    BOOST_TEST(rl::parse_window("5/30s").period.count() == 30);
    BOOST_TEST(rl::parse_window("10/m").period.count() == 60);
    BOOST_TEST(rl::parse_window("1000/2d").period.count() == 172800);
    for (const char* bad : {"100", "0/1h", "-1/1h", "x/1h", "100/", "100/1", "100/1w", "100/0h", "100/367d", "2000000000/1h", "1/h1"})
        BOOST_CHECK_THROW(rl::parse_window(bad), cm::settings_error);
    try {
        rl::parse_window("10/week");
    } catch (const cm::settings_error& e) {
        BOOST_TEST(std::string{e.what()} == "--limit: '10/week' has a period without a unit (N/PERIOD, e.g. 100/1h; PERIOD in s, m, h or d)");
    }
    BOOST_TEST(rl::duration_text(std::chrono::seconds{3600}) == "1h");
    BOOST_TEST(rl::duration_text(std::chrono::seconds{90061}) == "1d1h1m1s");
    BOOST_TEST(rl::duration_text(std::chrono::seconds{0}) == "0s");
}

BOOST_AUTO_TEST_CASE(check_refuses_what_cannot_work) {
    ratelimit_options o;
    BOOST_CHECK_THROW(o.check(), cm::settings_error); // no --limit
    o.limit_texts = {"10/1h", "100/60m"};
    BOOST_CHECK_THROW(o.check(), cm::settings_error); // the same period twice
    o.limit_texts = {"10/1h"};
    o.redis = "redis.example:6379";
    try {
        o.check();
        BOOST_FAIL("a host name was accepted");
    } catch (const cm::settings_error& e) {
        BOOST_TEST(std::string{e.what()}.starts_with("--redis: redis.example:6379"), e.what());
    }
    o.redis = "127.0.0.1:6379";
    o.redis_user = "alice";
    BOOST_CHECK_THROW(o.check(), cm::settings_error); // a user without a password
    o.redis_password = "pw";
    o.check();
    BOOST_TEST(o.windows.size() == 1u);
    BOOST_TEST(o.client->name() == "127.0.0.1:6379");
}

BOOST_AUTO_TEST_CASE(keys) {
    using k = rl::key_kind;
    BOOST_TEST(rl::key_value(k::sender, "<Alice@Example.ORG>", "", "") == "alice@example.org");
    BOOST_TEST(rl::key_value(k::sender_domain, "<Alice@Example.ORG>", "", "") == "example.org");
    BOOST_TEST(rl::key_value(k::sender, "<>", "", "") == "");
    BOOST_TEST(rl::key_value(k::sender_domain, "<postmaster>", "", "") == "");
    BOOST_TEST(rl::key_value(k::auth, "<a@b>", "Bob", "") == "Bob");
    BOOST_TEST(rl::key_value(k::auth, "<a@b>", "", "") == "");
    BOOST_TEST(rl::key_value(k::client, "<a@b>", "", "2001:DB8::1") == "2001:db8::1");
}

BOOST_AUTO_TEST_SUITE_END()

// ---- Windows --------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(ratelimit_windows)

BOOST_AUTO_TEST_CASE(the_n_plus_first_message_gets_451_with_the_retry_hint) {
    test_redis::server server;
    ratelimit_settings.set(options(server, {"3/1h"}));
    harness h{ratelimit};
    h.connect();
    for (int i = 0; i < 3; ++i) BOOST_TEST(mail(h, "<Alice@Example.org>") == "CONTINUE");
    const auto refused = mail(h, "<alice@example.ORG>"); // the same sender, whatever its case
    BOOST_TEST(matches(refused, "REPLYCODE text=\"451 4\\.7\\.1 too many messages from sender alice@example\\.org: "
                                "limit 3 per 1h; try again in (59m[0-9]+s|1h|1h[0-9]+s|1h1m)\""),
               refused);
    BOOST_TEST(mail(h, "<bob@example.org>") == "CONTINUE"); // another sender has its own count
    // The refused attempt was not counted: the window still holds 3.
    const auto counts = server({"HVALS", "ratelimit:{sender:alice@example.org}:3600"});
    std::int64_t total = 0;
    for (const auto& c : counts.elements) total += std::stoll(c.text);
    BOOST_TEST(total == 3);
    BOOST_TEST(server({"PTTL", "ratelimit:{sender:alice@example.org}:3600"}).integer > 0); // the hash expires
}

BOOST_AUTO_TEST_CASE(the_hint_is_when_the_oldest_counts_leave_the_window) {
    test_redis::server server;
    auto o = options(server, {"2/1h"});
    o.prefix = "rl-test:";
    ratelimit_settings.set(o);
    // Buckets of one minute (1 h / 60). One count 30 minutes ago, one now: the window is full
    // until the older one leaves it, 30 to 31 minutes from now (the window counts one bucket
    // more than an hour, never less). A bucket older than the window does not count.
    const auto bucket = redis_time_ms(server) / 60000;
    const std::string key = "rl-test:{sender:carol@example.org}:3600";
    server({"HSET", key, std::to_string(bucket - 30), "1", std::to_string(bucket), "1", std::to_string(bucket - 62), "7"});
    harness h{ratelimit};
    h.connect();
    const auto refused = mail(h, "<carol@example.org>");
    BOOST_TEST(matches(refused, ".*limit 2 per 1h; try again in (30m[0-9]+s|31m)\""), refused);
    BOOST_TEST(server({"HEXISTS", key, std::to_string(bucket - 62)}).integer == 0); // expired buckets are removed
}

BOOST_AUTO_TEST_CASE(every_window_must_allow_a_count) {
    test_redis::server server;
    ratelimit_settings.set(options(server, {"5/1h", "2/1m"}));
    harness h{ratelimit};
    h.connect();
    BOOST_TEST(mail(h, "<dave@example.org>") == "CONTINUE");
    BOOST_TEST(mail(h, "<dave@example.org>") == "CONTINUE");
    const auto refused = mail(h, "<dave@example.org>");
    BOOST_TEST(matches(refused, ".*too many messages from sender dave@example\\.org: limit 2 per 1m; try again in 1m(1s)?\""), refused);
    // Refused by the minute: the hour did not count it either.
    BOOST_TEST(server({"HVALS", "ratelimit:{sender:dave@example.org}:3600"}).elements.at(0).text == "2");
}

BOOST_AUTO_TEST_CASE(a_full_window_frees_up_when_its_period_has_passed) {
    test_redis::server server;
    ratelimit_settings.set(options(server, {"1/1s"}));
    harness h{ratelimit};
    h.connect();
    BOOST_TEST(mail(h, "<erin@example.org>") == "CONTINUE");
    BOOST_TEST(mail(h, "<erin@example.org>").starts_with("REPLYCODE text=\"451 4.7.1"));
    std::string later;
    for (int i = 0; i < 100 && later != "CONTINUE"; ++i) { // the window slides: 1 s and a bucket later
        std::this_thread::sleep_for(100ms);
        later = mail(h, "<erin@example.org>");
    }
    BOOST_TEST(later == "CONTINUE");
}

BOOST_AUTO_TEST_CASE(two_connections_share_one_count) {
    // Each harness has its io_context, hence its own Redis connection: as two instances would.
    test_redis::server server;
    ratelimit_settings.set(options(server, {"3/1h"}));
    harness a{ratelimit}, b{ratelimit};
    a.connect();
    b.connect();
    BOOST_TEST(mail(a, "<frank@example.org>") == "CONTINUE");
    BOOST_TEST(mail(b, "<frank@example.org>") == "CONTINUE");
    BOOST_TEST(mail(a, "<frank@example.org>") == "CONTINUE");
    BOOST_TEST(mail(b, "<frank@example.org>").starts_with("REPLYCODE text=\"451 4.7.1 too many messages"));
    // Two Redis connections did the counting (the side connection's last command is CLIENT LIST).
    const auto clients = server({"CLIENT", "LIST"}).text;
    std::size_t counting = 0;
    for (auto at = clients.find("cmd=evalsha"); at != std::string::npos; at = clients.find("cmd=evalsha", at + 1)) ++counting;
    BOOST_TEST(counting == 2u, clients);
}

BOOST_AUTO_TEST_CASE(concurrent_counts_from_two_threads_never_exceed_the_limit) {
    // Two threads, each with its io_context (its own Redis connection, as two instances),
    // 60 counts in flight at once against one key limited to 25: the script checks and
    // counts in one step, so exactly 25 are allowed, whatever the interleaving.
    test_redis::server server;
    ratelimit_settings.set(options(server, {"25/1h"}));
    rl::message_state m;
    m.options = ratelimit_settings.pin();
    m.key = "race@example.org";
    m.shown = "sender race@example.org";
    std::atomic<int> allowed{0}, refused{0};
    auto run_thread = [&] {
        boost::asio::io_context io{1};
        for (int i = 0; i < 30; ++i)
            boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> {
                const auto v = co_await rl::take(m);
                ++(v.is_next() ? allowed : refused);
            }, boost::asio::detached);
        io.run();
    };
    std::thread a{run_thread}, b{run_thread};
    a.join();
    b.join();
    BOOST_TEST(allowed.load() == 25);
    BOOST_TEST(refused.load() == 35);
}

BOOST_AUTO_TEST_CASE(recipients_are_counted_at_rcpt) {
    test_redis::server server;
    auto o = options(server, {"3/1h"});
    o.count = ratelimit_options::count_kind::recipients;
    ratelimit_settings.set(o);
    harness h{ratelimit};
    h.connect();
    BOOST_TEST(h.mail_from("<gina@example.org>").str() == "CONTINUE");
    BOOST_TEST(h.rcpt("<r1@example.net>").str() == "CONTINUE");
    BOOST_TEST(h.rcpt("<r2@example.net>").str() == "CONTINUE");
    h.abort();
    BOOST_TEST(h.mail_from("<gina@example.org>").str() == "CONTINUE");
    BOOST_TEST(h.rcpt("<r3@example.net>").str() == "CONTINUE");
    const auto refused = h.rcpt("<r4@example.net>").str();
    BOOST_TEST(matches(refused, "REPLYCODE text=\"451 4\\.7\\.1 too many recipients from sender gina@example\\.org: limit 3 per 1h; .*"),
               refused);
    h.abort();
}

BOOST_AUTO_TEST_CASE(a_message_keeps_the_settings_it_had_at_mail_from) {
    test_redis::server server;
    auto o = options(server, {"5/1h"});
    o.count = ratelimit_options::count_kind::recipients;
    ratelimit_settings.set(o);
    harness h{ratelimit};
    h.connect();
    BOOST_TEST(h.mail_from("<hank@example.org>").str() == "CONTINUE");
    auto stricter = o;
    stricter.limit_texts = {"1/1h"};
    ratelimit_settings.set(stricter); // a reload in the middle of the transaction
    BOOST_TEST(h.rcpt("<r1@example.net>").str() == "CONTINUE");
    BOOST_TEST(h.rcpt("<r2@example.net>").str() == "CONTINUE"); // still 5/1h
    h.abort();
    BOOST_TEST(h.mail_from("<hank@example.org>").str() == "CONTINUE");
    BOOST_TEST(h.rcpt("<r3@example.net>").str().starts_with("REPLYCODE text=\"451 4.7.1")); // now 1/1h
    h.abort();
}

BOOST_AUTO_TEST_SUITE_END()

// ---- Keys -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(ratelimit_keys)

BOOST_AUTO_TEST_CASE(auth_counts_logins_only) {
    test_redis::server server;
    auto o = options(server, {"1/1h"});
    o.key = ratelimit_options::key_kind::auth;
    ratelimit_settings.set(o);
    harness h{ratelimit};
    h.connect();
    h.macros('M', {{"{auth_authen}", "ivy"}});
    BOOST_TEST(mail(h, "<a@example.org>") == "CONTINUE");
    h.macros('M', {{"{auth_authen}", "ivy"}});
    BOOST_TEST(matches(mail(h, "<b@example.org>"), ".*too many messages from auth ivy: limit 1 per 1h.*"));
    BOOST_TEST(mail(h, "<a@example.org>") == "CONTINUE"); // no login: not counted
    BOOST_TEST(mail(h, "<a@example.org>") == "CONTINUE");
    BOOST_TEST(server({"KEYS", "*"}).elements.size() == 1u);
}

BOOST_AUTO_TEST_CASE(client_address_and_sender_domain) {
    test_redis::server server;
    auto o = options(server, {"1/1h"});
    o.key = ratelimit_options::key_kind::client;
    ratelimit_settings.set(o);
    {
        harness h{ratelimit};
        h.connect("mx.example", "192.0.2.7");
        BOOST_TEST(mail(h, "<a@example.org>") == "CONTINUE");
        BOOST_TEST(matches(mail(h, "<b@example.net>"), ".*too many messages from client 192\\.0\\.2\\.7: .*"));
    }
    o.key = ratelimit_options::key_kind::sender_domain;
    o.prefix = "rl:";
    ratelimit_settings.set(o);
    harness h{ratelimit};
    h.connect();
    BOOST_TEST(mail(h, "<a@Example.COM>") == "CONTINUE");
    BOOST_TEST(matches(mail(h, "<b@example.com>"), ".*too many messages from sender-domain example\\.com: .*"));
    BOOST_TEST(mail(h, "<>") == "CONTINUE"); // bounces are never held back
    BOOST_TEST(mail(h, "<>") == "CONTINUE");
    BOOST_TEST(server({"EXISTS", "rl:{sender-domain:example.com}:3600"}).integer == 1);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- Redis down -----------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(ratelimit_redis_down)

BOOST_AUTO_TEST_CASE(on_error_tempfail) {
    auto o = ratelimit_options{};
    o.redis = "127.0.0.1:" + std::to_string(test_redis::free_port()); // nothing listens there
    o.limit_texts = {"1/1h"};
    o.on_error = ratelimit_options::error_rule::tempfail;
    ratelimit_settings.set(o);
    stderr_capture log;
    harness h{ratelimit};
    h.connect();
    BOOST_TEST(mail(h, "<a@example.org>") == "REPLYCODE text=\"451 4.3.0 rate limit service unavailable, try again later\"");
    BOOST_TEST(mail(h, "<a@example.org>") == "REPLYCODE text=\"451 4.3.0 rate limit service unavailable, try again later\"");
    BOOST_TEST(log.count("unavailable (") == 1u, log.text());
    BOOST_TEST(log.text().find("answering 451 4.3.0 (--on-error tempfail)") != std::string::npos, log.text());
}

BOOST_AUTO_TEST_CASE(accepted_while_down_one_log_line_each_way_then_counted_again) {
    test_redis::server server;
    auto o = options(server, {"2/1h"});
    o.redis_timeout = 500ms;
    ratelimit_settings.set(o);
    harness h{ratelimit};
    h.connect();
    BOOST_TEST(mail(h, "<jo@example.org>") == "CONTINUE");
    stderr_capture log; // from here (an earlier test may have left the outage flag set)
    server.stop();
    for (int i = 0; i < 5; ++i) BOOST_TEST(mail(h, "<jo@example.org>") == "CONTINUE"); // uncounted
    BOOST_TEST(log.count("unavailable (") == 1u, log.text());
    BOOST_TEST(log.text().find("accepting messages uncounted (--on-error accept)") != std::string::npos, log.text());

    server.start(); // empty: the old counts are gone with it (no persistence)
    // Messages go on being accepted until the backoff lets the connection be tried again.
    for (int i = 0; i < 100 && log.count("answers again: counting resumes") == 0; ++i) {
        BOOST_TEST(mail(h, "<jo@example.org>") == "CONTINUE");
        std::this_thread::sleep_for(50ms);
    }
    BOOST_TEST(log.count("answers again: counting resumes") == 1u, log.text());
    BOOST_TEST(log.count("unavailable (") == 1u, log.text());
    // One was counted when Redis answered again; the next fills the window, then 451.
    BOOST_TEST(mail(h, "<jo@example.org>") == "CONTINUE");
    const auto refused = mail(h, "<jo@example.org>");
    BOOST_TEST(refused.starts_with("REPLYCODE text=\"451 4.7.1 too many messages"), refused << "\n" << log.text()
               << show_counts(server, "ratelimit:{sender:jo@example.org}:3600"));
}

BOOST_AUTO_TEST_SUITE_END()
