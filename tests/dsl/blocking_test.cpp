// Hooks declared cm::blocking: run on the blocking pool on copies, awaited, bounded by the hook
// timeout; the pool's bound; discard at CONNECT/HELO refused at run time. In the harness and in
// the server (other connections are answered while one blocking hook is blocked).
#define BOOST_TEST_MODULE cppmilter blocking hooks
#include "support/mta_client.hpp"

#include <cppmilter/asio/server.hpp>
#include <cppmilter/cppmilter.hpp>
#include <cppmilter/testing/harness.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace cm = cppmilter;
namespace srv = cppmilter::asio_server;
namespace proto = cppmilter::proto;
using cppmilter::test::mta_client;
using cppmilter::test::str;
using namespace std::chrono_literals;

namespace {

/// Holds blocking calls until opened; counts the calls that reached it. Every wait is bounded
/// (20 s) so that a broken test fails instead of hanging.
class gate {
public:
    void pass() {
        std::unique_lock lock{mutex_};
        ++arrived_;
        changed_.notify_all();
        const int round = round_; // a later test's close() must not hold this call again
        changed_.wait_for(lock, 20s, [&] { return open_ || round_ != round; });
    }
    void open() {
        std::lock_guard lock{mutex_};
        open_ = true;
        changed_.notify_all();
    }
    void close() {
        std::lock_guard lock{mutex_};
        open_ = false;
        arrived_ = 0;
        ++round_;
        changed_.notify_all();
    }
    bool wait_for_arrivals(int n) {
        std::unique_lock lock{mutex_};
        return changed_.wait_for(lock, 20s, [&] { return arrived_ >= n; });
    }
    int arrivals() {
        std::lock_guard lock{mutex_};
        return arrived_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    int arrived_ = 0;
    int round_ = 0;
    bool open_ = false;
};

gate stuck;                              // where <stuck@...> calls wait
std::atomic<int> calls_started{0};       // blocking calls that began to run
std::atomic<bool> ran_on_the_caller{false}; // a blocking call ran on the thread that handled the command
std::thread::id handling_thread;

bool wait_until(const std::function<bool()>& done) {
    for (int i = 0; i < 2000; ++i) { // bounded: 20 s
        if (done()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return done();
}

// RCPT is blocking: counts recipients in the message state, refuses <no@...>, waits at the gate
// for <stuck@...>; end of message (blocking too) reports the count and the body's size.
inline constexpr auto counter = cm::milter<cm::message_scoped<int>>(
    cm::on_rcpt(cm::blocking([](const cm::rcpt& r, auto& ctx) -> cm::verdict {
        ++calls_started;
        if (std::this_thread::get_id() == handling_thread) ran_on_the_caller = true;
        ++ctx.message();
        if (r.address.starts_with("<stuck@")) stuck.pass();
        if (r.address.starts_with("<throw@")) throw std::runtime_error("directory unreachable");
        if (r.address.starts_with("<no@")) return cm::reject;
        return cm::next;
    })),
    cm::on_end_of_message(cm::blocking([](const cm::whole_message& msg, auto& ctx) -> cm::eom<cm::add_header> {
        return cm::add_header{"X-Count", std::to_string(ctx.message()) + " rcpts, " + std::to_string(msg.body.size()) +
                                             " bytes, subject " + std::string{msg.header("Subject").value_or("-")}};
    })));
using counter_type = std::remove_cvref_t<decltype(counter)>;
static_assert(counter_type::any_blocking() && counter_type::any_async());
// A blocking hook returning a verdict is answered: no NR bit for RCPT.
static_assert(!counter_type::negotiation.protocol.has(proto::protocol::no_reply_rcpt));

// Negotiation is derived from the function inside cm::blocking, as for any hook: a void one
// leaves RCPT unanswered (NR), an end-of-message one returning cm::eom<cm::add_header> asks for
// ADDHDRS, and reading the whole message subscribes the body.
inline constexpr auto observer = cm::milter(
    cm::on_rcpt(cm::blocking([](const cm::rcpt&) {})),
    cm::on_end_of_message(cm::blocking([](const cm::whole_message&) -> cm::eom<cm::add_header> { return {}; })));
using observer_type = std::remove_cvref_t<decltype(observer)>;
static_assert(observer_type::negotiation.protocol.has(proto::protocol::no_reply_rcpt));
static_assert(observer_type::negotiation.actions.has(proto::action::add_headers));
static_assert(!observer_type::negotiation.protocol.has(proto::protocol::no_body));
static_assert(observer_type::eom_buffering() == 2);

cm::hook_limits quick_timeout(std::shared_ptr<cm::blocking_pool> pool) {
    cm::hook_limits l;
    l.timeout = 1s; // long enough for a quick call on a loaded machine
    l.blocking = std::move(pool);
    return l;
}

void reset() {
    stuck.close();
    calls_started = 0;
    ran_on_the_caller = false;
    handling_thread = std::this_thread::get_id();
}

// The same decision from a cm::verdict the type cannot tell: discard at CONNECT or HELO.
cm::verdict chosen_at_connect = cm::next;
inline constexpr auto chooser = cm::milter(
    cm::on_connect([](const cm::connect_info&) -> cm::verdict { return chosen_at_connect; }),
    cm::on_helo([](const cm::helo_info& h) -> cm::verdict {
        if (h.name == "discard.example") return cm::discard;
        return cm::next;
    }));
inline constexpr auto blocking_chooser = cm::milter(
    cm::on_helo(cm::blocking([](const cm::helo_info&) -> cm::verdict { return cm::discard; })));

} // namespace

BOOST_AUTO_TEST_SUITE(blocking_harness)

BOOST_AUTO_TEST_CASE(verdicts_and_state_come_back_from_the_pool) {
    reset();
    cm::testing::harness h{counter};
    h.connect();
    h.mail_from("<a@example.test>");
    BOOST_TEST(h.rcpt("<one@example.test>") == "CONTINUE");
    BOOST_TEST(h.rcpt("<no@example.test>") == "REJECT");
    BOOST_TEST(h.rcpt("<two@example.test>") == "CONTINUE");
    h.data();
    h.header("Subject", "hello");
    h.end_of_headers();
    h.body("0123456789");
    // The state each call changed on its copy was taken back: three recipients counted.
    BOOST_TEST(h.end_of_message() == "ADDHEADER name=\"X-Count\" value=\"3 rcpts, 10 bytes, subject hello\"; CONTINUE");
    BOOST_TEST(calls_started == 3);
    BOOST_TEST(!ran_on_the_caller);
}

BOOST_AUTO_TEST_CASE(a_hook_that_throws_is_answered_with_the_fallback) {
    reset();
    cm::testing::harness h{counter};
    h.connect();
    h.mail_from("<a@example.test>");
    BOOST_TEST(h.rcpt("<throw@example.test>") == "TEMPFAIL");
    BOOST_TEST(h.take_hook_error() == "directory unreachable");
    BOOST_TEST(h.rcpt("<one@example.test>") == "CONTINUE");
}

BOOST_AUTO_TEST_CASE(an_overrun_is_answered_with_the_fallback_and_its_state_dropped) {
    reset();
    auto pool = std::make_shared<cm::blocking_pool>(2, 0);
    cm::testing::harness h{counter, cm::testing::postfix_offer, quick_timeout(pool)};
    h.connect();
    h.mail_from("<a@example.test>");
    BOOST_TEST(h.rcpt("<stuck@example.test>") == "TEMPFAIL"); // still blocked at the gate
    BOOST_TEST(h.take_hook_error() == cm::hook_timeout{}.what());
    BOOST_TEST(stuck.arrivals() == 1);
    BOOST_TEST(pool->busy() == 1u); // the thread cannot be taken back: its slot stays busy
    // The connection goes on while the call is blocked, on the other thread.
    BOOST_TEST(h.rcpt("<one@example.test>") == "CONTINUE");
    h.data();
    h.end_of_headers();
    // Only <one@...> counted: what the overrun call did to its copy was dropped.
    BOOST_TEST(h.end_of_message() == "ADDHEADER name=\"X-Count\" value=\"1 rcpts, 0 bytes, subject -\"; CONTINUE");
    BOOST_TEST(h.take_hook_error() == "");
    stuck.open();
    BOOST_TEST(wait_until([&] { return pool->busy() == 0; })); // returned: its slot is free again
}

BOOST_AUTO_TEST_CASE(a_full_pool_answers_the_fallback_at_once) {
    reset();
    auto pool = std::make_shared<cm::blocking_pool>(1, 0); // one thread, no queue
    cm::testing::harness blocked{counter, cm::testing::postfix_offer, quick_timeout(pool)};
    cm::testing::harness other{counter, cm::testing::postfix_offer, quick_timeout(pool)};
    blocked.connect();
    blocked.mail_from("<a@example.test>");
    BOOST_TEST(blocked.rcpt("<stuck@example.test>") == "TEMPFAIL");
    other.connect();
    other.mail_from("<b@example.test>");
    BOOST_TEST(other.rcpt("<one@example.test>") == "TEMPFAIL");
    BOOST_TEST(other.take_hook_error() == cm::blocking_pool_full{}.what());
    BOOST_TEST(calls_started == 1); // the refused call never ran
    stuck.open();
    BOOST_TEST(wait_until([&] { return pool->busy() == 0; }));
    BOOST_TEST(other.rcpt("<one@example.test>") == "CONTINUE");
}

BOOST_AUTO_TEST_CASE(a_call_that_timed_out_in_the_queue_never_starts) {
    reset();
    auto pool = std::make_shared<cm::blocking_pool>(1, 1); // one thread, one waiting call
    cm::testing::harness blocked{counter, cm::testing::postfix_offer, quick_timeout(pool)};
    cm::testing::harness queued{counter, cm::testing::postfix_offer, quick_timeout(pool)};
    blocked.connect();
    blocked.mail_from("<a@example.test>");
    BOOST_TEST(blocked.rcpt("<stuck@example.test>") == "TEMPFAIL");
    queued.connect();
    queued.mail_from("<b@example.test>");
    BOOST_TEST(queued.rcpt("<one@example.test>") == "TEMPFAIL"); // waited in the queue, then timed out
    BOOST_TEST(queued.take_hook_error() == cm::hook_timeout{}.what());
    BOOST_TEST(pool->queued() == 1u);
    stuck.open();
    BOOST_TEST(wait_until([&] { return pool->busy() == 0 && pool->queued() == 0; }));
    BOOST_TEST(calls_started == 1); // only the stuck one: the abandoned call was dropped, not run
}

BOOST_AUTO_TEST_CASE(discard_at_connect_or_helo_is_answered_with_the_fallback) {
    cm::testing::harness h{chooser};
    chosen_at_connect = cm::discard;
    BOOST_TEST(h.connect() == "TEMPFAIL");
    BOOST_TEST(h.take_hook_error() == "a hook answered discard at CONNECT, where there is no message to discard yet");
    h.quit_new_connection();
    chosen_at_connect = cm::next;
    BOOST_TEST(h.connect() == "CONTINUE");
    BOOST_TEST(h.helo("discard.example") == "TEMPFAIL");
    BOOST_TEST(h.take_hook_error() == "a hook answered discard at HELO, where there is no message to discard yet");
    BOOST_TEST(h.helo("mx.example") == "CONTINUE");

    // With --fallback reject, and through a blocking (awaited) hook.
    cm::testing::harness b{blocking_chooser, cm::testing::postfix_offer, {}, cm::reject};
    b.connect();
    BOOST_TEST(b.helo("mx.example") == "REJECT");
    BOOST_TEST(b.take_hook_error() == "a hook answered discard at HELO, where there is no message to discard yet");
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// MAIL FROM is blocking: <stuck@...> waits at the gate, <listed@...> is refused.
inline constexpr auto lookup = cm::milter(cm::on_mail_from(cm::blocking([](const cm::mail_from& m) -> cm::verdict {
    if (m.address.starts_with("<stuck@")) stuck.pass();
    if (m.address.starts_with("<listed@")) return cm::reply(550, "5.7.1", "listed");
    return cm::next;
})));
using lookup_server = srv::server<std::remove_cvref_t<decltype(lookup)>>;

srv::server_options one_thread() {
    srv::server_options o;
    o.listen = {"inet:127.0.0.1:0"};
    o.threads = 1; // one I/O thread: a hook blocking it would stall every other connection
    o.hook_timeout = 30s;
    o.shutdown_timeout = 5s;
    o.blocking_threads = 2;
    return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(blocking_server)

BOOST_AUTO_TEST_CASE(other_connections_are_answered_while_one_hook_blocks) {
    reset();
    lookup_server s{lookup, one_thread()};
    const auto address = s.start().at(0);
    mta_client blocked;
    blocked.connect(address);
    blocked.negotiate();
    blocked.send(proto::mail{"<stuck@example.test>", {}});
    BOOST_TEST_REQUIRE(stuck.wait_for_arrivals(1));

    // The only I/O thread still serves: new connections negotiate and get their verdicts while
    // the first one's hook is blocked (the gate is opened only below).
    for (int i = 0; i < 5; ++i) {
        mta_client other;
        other.connect(address);
        other.negotiate();
        BOOST_TEST(str(other.command(proto::mail{"<listed@example.test>", {}})) == "REPLYCODE text=\"550 5.7.1 listed\"");
        other.command(proto::abort{});
        BOOST_TEST(str(other.command(proto::mail{"<ok@example.test>", {}})) == "CONTINUE");
        other.command(proto::quit{});
    }
    BOOST_TEST(stuck.arrivals() == 1);

    stuck.open();
    BOOST_TEST(str(blocked.receive()) == "CONTINUE"); // and the blocked one is answered when it returns
    blocked.command(proto::quit{});
    BOOST_TEST(blocked.read_eof(5s));
    s.request_stop();
    BOOST_TEST(s.wait() == 0);
}

BOOST_AUTO_TEST_CASE(an_overrun_gets_the_fallback_and_the_connection_goes_on) {
    reset();
    auto o = one_thread();
    o.hook_timeout = 1s;
    o.fallback = srv::fallback_verdict::reject;
    lookup_server s{lookup, o};
    const auto address = s.start().at(0);
    mta_client mta;
    mta.connect(address);
    mta.negotiate();
    BOOST_TEST(str(mta.command(proto::mail{"<stuck@example.test>", {}})) == "REJECT");
    mta.command(proto::abort{});
    BOOST_TEST(str(mta.command(proto::mail{"<ok@example.test>", {}})) == "CONTINUE"); // on the other pool thread
    stuck.open();
    mta.command(proto::quit{});
    BOOST_TEST(mta.read_eof(5s));
    s.request_stop();
    BOOST_TEST(s.wait() == 0);
}

BOOST_AUTO_TEST_CASE(a_call_stuck_for_good_does_not_hold_up_shutdown) {
    reset();
    auto o = one_thread();
    o.shutdown_timeout = 200ms;
    auto s = std::make_unique<lookup_server>(lookup, o);
    const auto address = s->start().at(0);
    mta_client blocked;
    blocked.connect(address);
    blocked.negotiate();
    blocked.send(proto::mail{"<stuck@example.test>", {}});
    BOOST_TEST_REQUIRE(stuck.wait_for_arrivals(1));
    s->request_stop();
    BOOST_TEST(s->wait() == 0); // the drain gave up on the waiting connection; the call is still blocked
    s.reset();                  // and the server (its pool included) goes while it is
    BOOST_TEST(blocked.read_eof(5s));
    stuck.open(); // the detached thread returns into a pool that is gone: nothing to touch
}

BOOST_AUTO_TEST_CASE(blocking_options_are_parsed) {
    const char* argv[] = {"m", "--blocking-threads", "3", "--blocking-queue", "0"};
    auto cli = srv::parse_command_line(5, argv, "m", "1");
    BOOST_TEST(cli.options.blocking_threads == 3u);
    BOOST_TEST(cli.options.blocking_queue == 0u);
    const char* bad[] = {"m", "--blocking-threads", "0"};
    auto refused = srv::parse_command_line(3, bad, "m", "1");
    BOOST_TEST(refused.exit_code == 64);
    BOOST_TEST(refused.message == "m: --blocking-threads: '0' is not a number from 1 to 1024");
    const char* defaults[] = {"m"};
    BOOST_TEST(srv::parse_command_line(1, defaults, "m", "1").options.blocking_threads == 16u);
}

BOOST_AUTO_TEST_SUITE_END()
