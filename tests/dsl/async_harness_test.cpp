// The in-process harness runs asynchronous hooks on an io_context of its own: the same
// one-line-per-event tests as for a synchronous milter, timers and the hook timeout included.
#include <cppmilter/cppmilter.hpp>
#include <cppmilter/testing/harness.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

namespace cm = cppmilter;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t{co_await asio::this_coro::executor, d};
    co_await t.async_wait(asio::use_awaitable);
}

// MAIL asks a "service" that answers after 20 ms; RCPT counts synchronously; end of message
// waits as long as the Subject says and adds a header, or throws for "boom".
inline const auto lookup = cm::milter<cm::message_scoped<int>>(
    cm::on_mail_from([](const cm::mail_from& m) -> asio::awaitable<cm::verdict> {
        co_await sleep_for(20ms);
        if (m.address.ends_with("@blocked.example>")) co_return cm::reply(550, "5.7.1", "listed");
        co_return cm::next;
    }),
    cm::on_rcpt([](const cm::rcpt&, auto& ctx) -> cm::verdict {
        return ++ctx.message() > 2 ? cm::verdict{cm::reject} : cm::verdict{cm::next};
    }),
    cm::on_end_of_message([](const cm::message_headers& msg, auto& ctx) -> asio::awaitable<cm::eom<cm::add_header>> {
        const std::string subject{msg.header("Subject").value_or("0")};
        if (subject == "boom") throw std::runtime_error("scanner crashed");
        co_await sleep_for(std::chrono::milliseconds{std::stoi(subject)});
        co_return cm::add_header{"X-Rcpts", std::to_string(ctx.message())};
    }));

} // namespace

BOOST_AUTO_TEST_SUITE(async_harness)

BOOST_AUTO_TEST_CASE(asynchronous_hooks_answer_like_synchronous_ones) {
    cm::testing::harness h{lookup};
    BOOST_TEST(h.connect().sent() == false); // no connect hook: NOCONNECT
    BOOST_TEST(h.mail_from("<a@blocked.example>") == "REPLYCODE text=\"550 5.7.1 listed\"");
    h.abort();
    BOOST_TEST(h.mail_from("<a@example.org>") == "CONTINUE");
    BOOST_TEST(h.rcpt("<x@example.net>") == "CONTINUE");
    BOOST_TEST(h.rcpt("<y@example.net>") == "CONTINUE");
    BOOST_TEST(h.rcpt("<z@example.net>") == "REJECT");
    BOOST_TEST(h.header("Subject", "5").empty()); // kept for end of message, unanswered (NR_HDR)
    BOOST_TEST(h.end_of_message() == "ADDHEADER name=\"X-Rcpts\" value=\"3\"; CONTINUE");
    h.abort();
    // State was reset by ABORT and MAIL: a second message on the connection counts afresh.
    BOOST_TEST(h.message("<b@example.org>", {"<x@example.net>"}, {{"Subject", "0"}}, "hi\r\n") ==
               "ADDHEADER name=\"X-Rcpts\" value=\"1\"; CONTINUE");
}

BOOST_AUTO_TEST_CASE(a_slow_hook_gets_progress_then_the_fallback) {
    cm::testing::harness h{lookup, cm::testing::postfix_offer, cm::hook_limits{.timeout = 250ms, .progress_interval = 100ms}};
    h.mail_from("<a@example.org>");
    h.rcpt("<x@example.net>");
    h.header("Subject", "5000");
    // PROGRESS at 100 and 200 ms, then the timeout at 250 ms answers the fallback (tempfail).
    BOOST_TEST(h.end_of_message() == "PROGRESS; PROGRESS; TEMPFAIL");
    BOOST_TEST(h.take_hook_error().find("--hook-timeout") != std::string::npos);
    h.abort();
    // The message state was reset with the fallback: the next message is normal.
    BOOST_TEST(h.message("<b@example.org>", {"<x@example.net>"}, {{"Subject", "1"}}, "") ==
               "ADDHEADER name=\"X-Rcpts\" value=\"1\"; CONTINUE");
}

BOOST_AUTO_TEST_CASE(an_asynchronous_hook_that_throws_gets_the_fallback) {
    cm::testing::harness h{lookup, cm::testing::postfix_offer, {}, cm::reject};
    BOOST_TEST(h.message("<a@example.org>", {"<x@example.net>"}, {{"Subject", "boom"}}, "") == "REJECT");
    BOOST_TEST(h.take_hook_error() == "scanner crashed");
    BOOST_TEST(h.message("<a@example.org>", {"<x@example.net>"}, {{"Subject", "0"}}, "") ==
               "ADDHEADER name=\"X-Rcpts\" value=\"1\"; CONTINUE");
}

BOOST_AUTO_TEST_SUITE_END()
