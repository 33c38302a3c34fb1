// The coroutine client (cppmilter::client::async_client): the same sessions as the blocking
// client's tests, many connections on one thread, deadlines that move both ways, failures.
#define BOOST_TEST_MODULE cppmilter async client
#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"

#include <cppmilter/client/async_client.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>

using namespace test_client;
using awaitable_void = asio::awaitable<void>;

namespace {

/// Runs `session(executor)` as a coroutine on a fresh io_context until everything on it ends;
/// an exception thrown by a session comes out of here.
template <class Session>
void run_sessions(std::size_t count, Session session) {
    asio::io_context io;
    for (std::size_t i = 0; i < count; ++i)
        asio::co_spawn(io, session(io.get_executor(), i), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    io.run();
}

template <class Session>
void run_session(Session session) {
    run_sessions(1, [&](asio::any_io_executor ex, std::size_t) { return session(ex); });
}

template <class Session>
std::string async_error_of(Session session) {
    return error_of([&] { run_session(session); });
}

} // namespace

// =============================================================================================
BOOST_AUTO_TEST_SUITE(async_client_session)

BOOST_AUTO_TEST_CASE(showcase_on_tcp_and_unix) {
    temp_dir dir;
    running s{examples::showcase, {"inet:127.0.0.1:0", "unix:" + dir.path + "/milter.sock"}};
    BOOST_TEST_REQUIRE(s.addresses.size() == 2u);
    for (const auto& address : s.addresses) {
        BOOST_TEST_CONTEXT(address) {
            std::vector<std::string> trace, got;
            run_session([&](asio::any_io_executor ex) -> awaitable_void {
                cl::async_client c{ex, quick()};
                c.trace = [&](std::string_view line) { trace.emplace_back(line); };
                co_await c.connect(address);
                const auto n = co_await c.negotiate();
                BOOST_TEST(n.version == 6u);
                BOOST_TEST(proto::to_string(n.actions) == "ADDHDRS|CHGBODY|ADDRCPT|DELRCPT|CHGHDRS|QUARANTINE|CHGFROM");
                BOOST_TEST(c.negotiated().protocol.has(proto::protocol::no_connect));
                got.push_back((co_await c.connect_info("client.example", proto::address_family::inet, 25, "192.0.2.1")).str());
                got.push_back((co_await c.helo("client.example")).str());
                got.push_back((co_await c.mail_from(std::string{"<alice@example.test>"})).str());
                got.push_back((co_await c.rcpt("<bob@example.test>")).str());
                got.push_back((co_await c.data()).str());
                got.push_back((co_await c.header("Subject", "plain")).str());
                got.push_back((co_await c.end_of_headers()).str());
                got.push_back((co_await c.body("Hello.\r\n")).str());
                got.push_back((co_await c.end_of_message()).all.str());
                co_await c.abort();
                co_await c.quit();
                BOOST_TEST(!c.is_open());
            });
            const std::vector<std::string> expected{"(not sent)", "(not sent)", "CONTINUE", "CONTINUE", "(not sent)",
                                                    "(no answer)", "(not sent)", "(not sent)",
                                                    R"(ADDHEADER name="X-Scenario" value="seen"; CONTINUE)"};
            BOOST_TEST(got == expected, boost::test_tools::per_element());
            BOOST_TEST((std::find(trace.begin(), trace.end(), "> MAIL address=\"<alice@example.test>\"") != trace.end()));
            BOOST_TEST((std::find(trace.begin(), trace.end(), "- DATA (not sent)") != trace.end()));
        }
    }
}

BOOST_AUTO_TEST_CASE(stamp_gets_every_command_answered) {
    running s{examples::stamp_answering, {"inet:127.0.0.1:0"}};
    std::vector<std::string> got;
    run_session([&](asio::any_io_executor ex) -> awaitable_void {
        cl::async_client c{ex, quick()};
        co_await c.connect(s.addresses.at(0));
        BOOST_TEST((co_await c.negotiate()).protocol.empty());
        // Named, not braced in the co_await: g++ 12 cannot keep an initializer_list's array
        // in a coroutine frame ("array used as initializer").
        const cl::async_client::macro_list macros{{"j", "mx.example"}, {"{daemon_name}", "smtpd"}};
        const std::vector<std::string> esmtp{"SIZE=100", "BODY=8BITMIME"};
        co_await c.macros('C', macros);
        got.push_back((co_await c.connect_info("client.example", proto::address_family::inet6, 25, "2001:db8::1")).str());
        got.push_back((co_await c.helo("client.example")).str());
        got.push_back((co_await c.mail_from("<a@example.test>", esmtp)).str());
        got.push_back((co_await c.rcpt("<b@example.test>")).str());
        got.push_back((co_await c.data()).str());
        got.push_back((co_await c.header("Subject", "x")).str());
        got.push_back((co_await c.end_of_headers()).str());
        got.push_back((co_await c.body(std::string(150000, 'x'))).str()); // three chunks, each answered
        got.push_back((co_await c.end_of_message()).all.str());
        co_await c.abort();
        got.push_back((co_await c.unknown("HELP")).str());
        co_await c.quit_new_connection();
        got.push_back((co_await c.connect_info("again.example", proto::address_family::unix_socket, 0, "")).str());
        co_await c.quit();
    });
    std::vector<std::string> expected(11, "CONTINUE");
    expected[8] = R"(ADDHEADER name="X-Bench" value="1"; CONTINUE)";
    BOOST_TEST(got == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(many_connections_on_one_thread) {
    running s{examples::stamp_answering, {"inet:127.0.0.1:0"}};
    constexpr std::size_t connections = 64, messages = 5;
    std::size_t stamped = 0, sessions_done = 0;
    run_sessions(connections, [&](asio::any_io_executor ex, std::size_t i) -> awaitable_void {
        cl::async_client c{ex, quick()};
        co_await c.connect(s.addresses.at(0));
        co_await c.negotiate();
        co_await c.connect_info("c" + std::to_string(i), proto::address_family::inet, 25, "192.0.2.1");
        for (std::size_t m = 0; m < messages; ++m) {
            co_await c.mail_from("<a@example.test>");
            co_await c.rcpt("<b@example.test>");
            co_await c.header("Subject", "n" + std::to_string(m));
            co_await c.body("x\r\n");
            if ((co_await c.end_of_message()).all == R"(ADDHEADER name="X-Bench" value="1"; CONTINUE)") ++stamped;
            co_await c.abort();
        }
        co_await c.quit();
        ++sessions_done;
    });
    BOOST_TEST(sessions_done == connections);
    BOOST_TEST(stamped == connections * messages);
}

BOOST_AUTO_TEST_CASE(progress_is_followed_and_counted) {
    running s{slow, {"inet:127.0.0.1:0"}};
    auto o = quick();
    o.content_timeout = 400ms; // shorter than the hook: only PROGRESS keeps the session alive
    run_session([&](asio::any_io_executor ex) -> awaitable_void {
        cl::async_client c{ex, o};
        co_await c.connect(s.addresses.at(0));
        co_await c.negotiate();
        co_await c.mail_from("<a@example.test>");
        const auto eom = co_await c.end_of_message();
        BOOST_TEST(eom.all == R"(ADDHEADER name="X-Slow" value="done"; CONTINUE)");
        BOOST_TEST(eom.progress >= 1u);
        BOOST_TEST(c.progress_count() == eom.progress);
        co_await c.quit();
    });
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
BOOST_AUTO_TEST_SUITE(async_client_failures)

BOOST_AUTO_TEST_CASE(silent_milter_times_out) {
    fake_filter silent;
    auto o = quick();
    o.command_timeout = 300ms;
    bool open_after = true;
    const auto t0 = clock_type::now();
    const auto what = async_error_of([&](asio::any_io_executor ex) -> awaitable_void {
        cl::async_client c{ex, o};
        co_await c.connect(silent.address());
        try {
            co_await c.negotiate();
        } catch (...) {
            open_after = c.is_open();
            throw;
        }
    });
    const auto took = clock_type::now() - t0;
    BOOST_TEST(what == "no answer from the milter within the timeout");
    BOOST_TEST(!open_after);
    BOOST_TEST(took >= 250ms);
    BOOST_TEST(took < 3s);
}

// The watchdog timer stays armed for the longest deadline seen; a shorter one must re-arm it.
BOOST_AUTO_TEST_CASE(a_shorter_deadline_after_a_longer_one) {
    fake_filter f{scripted({6, proto::all_actions, {}, {}}, {})}; // answers all but MAIL
    auto o = quick();
    o.command_timeout = 300ms;
    o.content_timeout = 20s;
    const auto t0 = clock_type::now();
    const auto what = async_error_of([&](asio::any_io_executor ex) -> awaitable_void {
        cl::async_client c{ex, o};
        co_await c.connect(f.address());
        co_await c.negotiate();
        BOOST_TEST((co_await c.header("Subject", "x")) == "CONTINUE"); // arms 20 s
        co_await c.mail_from("<a@example.test>");                      // never answered: 300 ms
    });
    const auto took = clock_type::now() - t0;
    BOOST_TEST(what == "no answer from the milter within the timeout");
    BOOST_TEST(took < 5s);
}

BOOST_AUTO_TEST_CASE(close_fails_the_pending_call) {
    fake_filter silent;
    std::string what;
    run_session([&](asio::any_io_executor ex) -> awaitable_void {
        cl::async_client c{ex, quick()};
        co_await c.connect(silent.address());
        asio::co_spawn(ex, [&]() -> awaitable_void {
            co_await sleep_for(100ms);
            c.close();
        }, asio::detached);
        try {
            co_await c.negotiate();
        } catch (const cl::client_error& e) {
            what = e.what();
        }
    });
    BOOST_TEST(what.find("read failed") == 0u, what);
}

BOOST_AUTO_TEST_CASE(connection_refused_and_bad_spec) {
    auto connect_to = [](std::string spec) {
        return async_error_of([spec](asio::any_io_executor ex) -> awaitable_void {
            cl::async_client c{ex, quick()};
            co_await c.connect(spec);
        });
    };
    BOOST_TEST(connect_to("unix:/nonexistent/milter.sock").find("cannot connect") != std::string::npos);
    BOOST_TEST(connect_to("inet:abc@127.0.0.1").find("port") != std::string::npos);
    BOOST_TEST(connect_to("inet:127.0.0.1:0") == "inet:127.0.0.1:0: port 0");
    BOOST_TEST(connect_to("inet6:[127.0.0.1]:25").find("is an IPv4 address") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(protocol_violations_close_the_connection) {
    fake_filter f{scripted({6, proto::all_actions, {}, {}}, {proto::add_header{"X", "y"}, proto::continue_{}})};
    bool open_after = true;
    const auto what = async_error_of([&](asio::any_io_executor ex) -> awaitable_void {
        cl::async_client c{ex, quick()};
        co_await c.connect(f.address());
        co_await c.negotiate();
        try {
            co_await c.mail_from("<a@example.test>");
        } catch (...) {
            open_after = c.is_open();
            throw;
        }
    });
    BOOST_TEST(what == "protocol violation: ADDHEADER in answer to MAIL (modifications only at end of message)");
    BOOST_TEST(!open_after);
}

BOOST_AUTO_TEST_CASE(optneg_reply_checked) {
    fake_filter f{scripted({2, proto::all_actions, {}, {}}, {})};
    auto o = quick();
    o.offer = cl::v2_offer();
    const auto what = async_error_of([&](asio::any_io_executor ex) -> awaitable_void {
        cl::async_client c{ex, o};
        co_await c.connect(f.address());
        co_await c.negotiate();
    });
    BOOST_TEST(what == "OPTNEG reply: actions not offered: CHGFROM|ADDRCPT_PAR|SETSYMLIST");
}

BOOST_AUTO_TEST_SUITE_END()
