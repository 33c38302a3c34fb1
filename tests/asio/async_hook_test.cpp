// Asynchronous hooks in the server: awaited on the connection, bounded by the hook timeout,
// PROGRESS while end of message waits, other connections served meanwhile.
#define BOOST_TEST_MODULE cppmilter asynchronous hooks
#include "support/mta_client.hpp"

#include <cppmilter/asio/server.hpp>
#include <cppmilter/cppmilter.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include <unistd.h>

namespace cm = cppmilter;
namespace srv = cppmilter::asio_server;
namespace proto = cppmilter::proto;
namespace asio = boost::asio;
using cppmilter::test::mta_client;
using cppmilter::test::str;
using namespace std::chrono_literals;

namespace {

std::atomic<bool> quick_done{false}; // set by the quick connection's end of message

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t{co_await asio::this_coro::executor, d};
    co_await t.async_wait(asio::use_awaitable);
}

// MAIL waits 50 ms (as a DNS lookup would), or 5 s for <slow@...>; RCPT is synchronous;
// end of message waits as long as the Subject says, in milliseconds.
inline const auto lookup = cm::milter<cm::message_scoped<int>>(
    cm::on_mail_from([](const cm::mail_from& m) -> asio::awaitable<cm::verdict> {
        co_await sleep_for(m.address.starts_with("<slow@") ? 5000ms : 50ms);
        if (m.address.starts_with("<throw@")) throw std::runtime_error("lookup failed");
        if (m.address.ends_with("@blocked.example>")) co_return cm::reply(550, "5.7.1", "listed");
        co_return cm::next;
    }),
    cm::on_rcpt([](const cm::rcpt&, auto& ctx) { ++ctx.message(); }),
    cm::on_end_of_message([](const cm::message_headers& msg, auto& ctx) -> asio::awaitable<cm::eom<cm::add_header>> {
        const auto subject = msg.header("Subject").value_or("0");
        if (subject == "wait-for-quick") { // holds the only thread's attention until the other finishes
            while (!quick_done) co_await sleep_for(5ms);
        } else {
            co_await sleep_for(std::chrono::milliseconds{std::stoi(std::string{subject})});
            if (subject == "0") quick_done = true;
        }
        co_return cm::add_header{"X-Rcpts", std::to_string(ctx.message())};
    }));
using lookup_server = srv::server<std::remove_cvref_t<decltype(lookup)>>;

static_assert(std::remove_cvref_t<decltype(lookup)>::negotiation.protocol.has(proto::protocol::no_reply_rcpt));

srv::server_options options() {
    srv::server_options o;
    o.listen = {"inet:127.0.0.1:0"};
    o.threads = 1; // one thread: other connections must go on while a hook waits
    o.hook_timeout = 1s;
    o.progress_interval = 200ms;
    o.shutdown_timeout = 5s;
    return o;
}

std::vector<std::string> message(mta_client& mta, std::string_view from, std::string_view subject) {
    mta.command(proto::mail{from, {}});
    mta.command(proto::rcpt{"<a@example.test>", {}});
    mta.command(proto::rcpt{"<b@example.test>", {}});
    mta.command(proto::header{"Subject", subject});
    return mta.end_of_message();
}

} // namespace

BOOST_AUTO_TEST_SUITE(async_hooks)

BOOST_AUTO_TEST_CASE(awaited_bounded_and_kept_alive) {
    lookup_server s{lookup, options()};
    const auto address = s.start().at(0);
    mta_client mta;
    mta.connect(address);
    mta.negotiate();
    BOOST_TEST(str(mta.command(proto::mail{"<x@blocked.example>", {}})) == "REPLYCODE text=\"550 5.7.1 listed\"");
    mta.command(proto::abort{});

    // A slow end of message: PROGRESS keeps the MTA waiting, then the modification arrives.
    BOOST_TEST(str(message(mta, "<ok@example.test>", "700")) == "ADDHEADER name=\"X-Rcpts\" value=\"2\"; CONTINUE");
    BOOST_TEST(mta.progress_count() >= 2u);
    mta.command(proto::abort{});

    // Past the hook timeout (1 s; the hook would take 5 s): the fallback, tempfail, and the
    // connection goes on.
    BOOST_TEST(str(mta.command(proto::mail{"<slow@example.test>", {}})) == "TEMPFAIL");
    mta.command(proto::abort{});
    BOOST_TEST(str(message(mta, "<ok@example.test>", "3000")) == "TEMPFAIL");
    mta.command(proto::abort{});
    BOOST_TEST(str(message(mta, "<ok@example.test>", "0")) == "ADDHEADER name=\"X-Rcpts\" value=\"2\"; CONTINUE");
    mta.command(proto::quit{});
    BOOST_TEST(mta.read_eof(5s));
    s.request_stop();
    s.wait();
}

BOOST_AUTO_TEST_CASE(a_hook_that_throws_is_answered_at_once_not_at_the_timeout) {
    // The hook timeout (60 s) is far beyond the client's (10 s): had the server waited for the
    // timeout after the hook threw, the client would have given up.
    auto o = options();
    o.hook_timeout = 60s;
    lookup_server s{lookup, o};
    const auto address = s.start().at(0);
    mta_client mta;
    mta.connect(address);
    mta.negotiate();
    BOOST_TEST(str(mta.command(proto::mail{"<throw@example.test>", {}})) == "TEMPFAIL");
    mta.command(proto::abort{});
    BOOST_TEST(str(message(mta, "<ok@example.test>", "0")) == "ADDHEADER name=\"X-Rcpts\" value=\"2\"; CONTINUE");
    mta.command(proto::quit{});
    BOOST_TEST(mta.read_eof(5s));
    s.request_stop();
    s.wait();
}

BOOST_AUTO_TEST_CASE(other_connections_go_on_while_a_hook_waits) {
    // One thread. The slow connection's end-of-message hook waits until the quick connection
    // has finished a whole message: had it blocked the thread, the quick one could never
    // finish, and the slow one would end in the hook timeout's TEMPFAIL.
    quick_done = false;
    lookup_server s{lookup, options()};
    const auto address = s.start().at(0);
    mta_client slow, quick;
    slow.connect(address);
    quick.connect(address);
    slow.negotiate();
    quick.negotiate();
    slow.command(proto::mail{"<ok@example.test>", {}});
    slow.command(proto::header{"Subject", "wait-for-quick"});
    slow.send(proto::end_of_body{});
    BOOST_TEST(str(message(quick, "<ok@example.test>", "0")) == "ADDHEADER name=\"X-Rcpts\" value=\"2\"; CONTINUE");
    BOOST_TEST(str(slow.receive()) == "ADDHEADER name=\"X-Rcpts\" value=\"0\"; CONTINUE");
    for (auto* mta : {&slow, &quick}) {
        mta->command(proto::quit{});
        BOOST_TEST(mta->read_eof(5s));
    }
    s.request_stop();
    s.wait();
}

BOOST_AUTO_TEST_CASE(an_mta_that_reads_no_progress_is_closed_after_the_write_timeout) {
    // A UNIX socket: its sender's buffer (net.core.wmem_default) fills with a few hundred
    // PROGRESS packets, one every millisecond, while the end-of-message hook waits 20 s.
    char dir[] = "/tmp/cppmilter-async-XXXXXX";
    BOOST_TEST_REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string path = std::string{dir} + "/s.sock";
    auto o = options();
    o.listen = {"unix:" + path};
    o.hook_timeout = 30s;
    o.progress_interval = 1ms;
    o.write_timeout = 1s;
    {
        lookup_server s{lookup, o};
        const auto address = s.start().at(0);
        mta_client deaf;
        deaf.connect(address);
        deaf.negotiate();
        deaf.command(proto::mail{"<ok@example.test>", {}});
        deaf.command(proto::header{"Subject", "20000"});
        deaf.send(proto::end_of_body{});
        {
            mta_client other; // the same thread serves it meanwhile
            other.connect(address);
            other.negotiate();
            BOOST_TEST(str(message(other, "<ok@example.test>", "0")) == "ADDHEADER name=\"X-Rcpts\" value=\"2\"; CONTINUE");
            other.command(proto::quit{});
            BOOST_TEST(other.read_eof(5s));
        }
        const auto deadline = std::chrono::steady_clock::now() + 10s; // well before the hook's 20 s
        while (s.active_connections() != 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(5ms);
        BOOST_TEST(s.active_connections() == 0u, "the connection that reads no PROGRESS is still open");
        BOOST_TEST(deaf.read_eof(5s));
        s.request_stop();
        s.wait();
    }
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
