// cppmilter::http (include/cppmilter/contrib/http.hpp) against a local endpoint started by the
// test (tests/examples/webhook_server.py: HTTP, HTTPS with a test CA, HTTPS with a
// certificate for another name). Also defines the endpoint webhook_test.cpp uses.
#define BOOST_TEST_MODULE cppmilter http and webhook
#include "dkim_fake_dns.hpp"

#include <cppmilter/contrib/http.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace webhook_test {
/// Where tests/examples/webhook_server.py listens (declared alike in webhook_test.cpp).
struct policy_ports {
    std::uint16_t http = 0, https = 0, https_wrong = 0;
    std::string ca, other_ca; ///< the CA that signed both certificates; a CA that signed neither
};
const policy_ports& policy_server();
} // namespace webhook_test

namespace asio = boost::asio;
namespace http = cppmilter::http;
using namespace std::chrono_literals;

namespace webhook_test {

namespace {
/// The endpoint process: started on first use, stopped (stdin closed, then SIGTERM) at exit.
struct server_process {
    server_process() {
        int to_child[2], from_child[2];
        if (pipe(to_child) != 0 || pipe(from_child) != 0) throw std::runtime_error{"pipe failed"};
        pid = fork();
        if (pid == 0) {
            dup2(to_child[0], 0);
            dup2(from_child[1], 1);
            close(to_child[1]);
            close(from_child[0]);
            execl(CPPMILTER_PYTHON, CPPMILTER_PYTHON, CPPMILTER_WEBHOOK_SERVER, "--timeout", "300",
                  nullptr);
            _exit(127);
        }
        close(to_child[0]);
        close(from_child[1]);
        stdin_fd = to_child[1];
        std::string line;
        char c;
        while (read(from_child[0], &c, 1) == 1 && c != '\n')
            line += c;
        close(from_child[0]);
        if (line.empty()) throw std::runtime_error{"webhook_server.py did not start"};
        const auto doc = boost::json::parse(line).as_object();
        ports.http = static_cast<std::uint16_t>(doc.at("http").as_int64());
        ports.https = static_cast<std::uint16_t>(doc.at("https").as_int64());
        ports.https_wrong = static_cast<std::uint16_t>(doc.at("https_wrong").as_int64());
        ports.ca = std::string{doc.at("ca").as_string()};
        ports.other_ca = std::string{doc.at("other_ca").as_string()};
    }
    ~server_process() {
        close(stdin_fd);
        int status = 0;
        for (int i = 0; i < 50 && waitpid(pid, &status, WNOHANG) == 0; ++i)
            usleep(100'000);
        if (waitpid(pid, &status, WNOHANG) == 0) {
            kill(pid, SIGTERM);
            waitpid(pid, &status, 0);
        }
    }
    pid_t pid = -1;
    int stdin_fd = -1;
    policy_ports ports;
};
} // namespace

const policy_ports& policy_server() {
    static server_process process;
    return process.ports;
}

} // namespace webhook_test

namespace {

using webhook_test::policy_server;

template <class T, class F>
T run(F body) {
    asio::io_context io;
    std::exception_ptr failure;
    T result{};
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { result = co_await body(); },
        [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) std::rethrow_exception(failure);
    return result;
}

http::url at(bool tls, std::uint16_t port, std::string path, std::string host = "127.0.0.1") {
    return http::parse_url((tls ? "https://" : "http://") + host + ":" + std::to_string(port) +
                           path)
        .value();
}

http::response post(http::client& c, const http::url& u, std::chrono::milliseconds timeout = 5s) {
    return run<http::response>([&] {
        return c.post(u, "{}", {{"Content-Type", "application/json"}}, timeout);
    });
}

/// The failure kind of a request that must fail.
http::failure failure_of(http::client& c, const http::url& u,
                         std::chrono::milliseconds timeout = 5s) {
    try {
        post(c, u, timeout);
    } catch (const http::error& e) {
        BOOST_TEST_MESSAGE("failed as expected: " << e.what());
        return e.kind;
    }
    throw std::runtime_error{"the request did not fail"};
}

http::client_options trusting(std::string ca_file, std::string connect_to = "") {
    http::client_options o;
    o.ca_file = std::move(ca_file);
    o.connect_to = std::move(connect_to);
    return o;
}

std::string peer_of(const http::response& r) {
    return std::string{boost::json::parse(r.body).as_object().at("peer").as_string()};
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_url)

BOOST_AUTO_TEST_CASE(urls_parse_and_bad_ones_say_why) {
    auto u = http::parse_url("https://policy.example.org/check?v=1").value();
    BOOST_TEST(u.tls);
    BOOST_TEST(u.host == "policy.example.org");
    BOOST_TEST(u.port == 443);
    BOOST_TEST(u.target == "/check?v=1");
    BOOST_TEST(u.authority() == "policy.example.org");
    auto v6 = http::parse_url("http://[::1]:8080").value();
    BOOST_TEST(v6.host == "::1");
    BOOST_TEST(v6.port == 8080);
    BOOST_TEST(v6.target == "/");
    BOOST_TEST(v6.authority() == "[::1]:8080");
    std::string why;
    BOOST_TEST(!http::parse_url("ftp://x/", &why));
    BOOST_TEST(why == "not an http:// or https:// URL");
    BOOST_TEST(!http::parse_url("http://x:0/", &why));
    BOOST_TEST(!http::parse_url("http://x:99999/", &why));
    BOOST_TEST(!http::parse_url("http://user:pw@x/", &why));
    BOOST_TEST(!http::parse_url("http:///path", &why));
    BOOST_TEST(why == "no host");
    BOOST_TEST(!http::parse_url("http://x/a b", &why));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(http_client)

BOOST_AUTO_TEST_CASE(plain_and_tls_requests_are_answered) {
    const auto& s = policy_server();
    http::client plain;
    auto r = post(plain, at(false, s.http, "/reject"));
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.field_value("content-type").value_or("") == "application/json");
    BOOST_TEST(boost::json::parse(r.body).as_object().at("code").as_int64() == 550);

    http::client tls{trusting(s.ca)};
    BOOST_TEST(post(tls, at(true, s.https, "/continue")).body == R"({"action": "continue"})");
    // The name in the URL is checked against the certificate's; localhost is one of its names.
    BOOST_TEST(post(tls, at(true, s.https, "/continue", "localhost")).status == 200u);
    BOOST_TEST(post(tls, at(false, s.http, "/status500")).status == 500u);
}

BOOST_AUTO_TEST_CASE(certificates_are_verified) {
    const auto& s = policy_server();
    // Signed by our CA, but for another name.
    http::client ours{trusting(s.ca)};
    BOOST_TEST(static_cast<int>(failure_of(ours, at(true, s.https_wrong, "/continue"))) ==
               static_cast<int>(http::failure::tls));
    // The right name, but a CA we were not told to trust.
    http::client other{trusting(s.other_ca)};
    BOOST_TEST(static_cast<int>(failure_of(other, at(true, s.https, "/continue"))) ==
               static_cast<int>(http::failure::tls));
    // The system's store does not know the test CA either.
    http::client system;
    BOOST_TEST(static_cast<int>(failure_of(system, at(true, s.https, "/continue"))) ==
               static_cast<int>(http::failure::tls));
    // --connect-to: the name for the certificate check comes from the URL.
    http::client redirected{trusting(s.ca, "127.0.0.1:" + std::to_string(s.https))};
    BOOST_TEST(post(redirected, at(true, 1, "/continue", "localhost")).status == 200u);
    BOOST_TEST(
        static_cast<int>(failure_of(redirected, at(true, 1, "/continue", "wrong.invalid"))) ==
        static_cast<int>(http::failure::tls));
}

BOOST_AUTO_TEST_CASE(failures_have_their_kind) {
    const auto& s = policy_server();
    http::client c{trusting(s.ca)};
    BOOST_TEST(static_cast<int>(failure_of(c, at(false, s.http, "/slow"), 500ms)) ==
               static_cast<int>(http::failure::timeout));
    BOOST_TEST(static_cast<int>(failure_of(c, at(true, s.https, "/slow"), 500ms)) ==
               static_cast<int>(http::failure::timeout));
    BOOST_TEST(static_cast<int>(failure_of(c, at(false, s.http, "/big"))) ==
               static_cast<int>(http::failure::too_large));
    BOOST_TEST(static_cast<int>(failure_of(c, at(false, s.http, "/close"))) ==
               static_cast<int>(http::failure::protocol));
    BOOST_TEST(static_cast<int>(failure_of(c, at(true, s.https, "/close"))) ==
               static_cast<int>(http::failure::protocol));
    // Nothing listens on port 1 of 127.0.0.1.
    BOOST_TEST(static_cast<int>(failure_of(c, at(false, 1, "/"))) ==
               static_cast<int>(http::failure::connect));
    // Header values cannot smuggle lines.
    BOOST_CHECK_THROW(
        run<http::response>([&] {
            return c.post(at(false, s.http, "/continue"), "{}", {{"X-A", "b\r\nX-Evil: 1"}}, 5s);
        }),
        http::error);
    BOOST_CHECK_THROW(http::client(trusting("/nonexistent/ca.pem")), http::error);
    BOOST_CHECK_THROW(http::client(trusting("", "not-an-address")), http::error);
}

/// A zone for tests/examples/fake_dns.py: names of the test endpoint.
const std::string endpoint_zone = "policy.example.test A 127.0.0.1\n"
                                  "other.example.test A 127.0.0.1\n"
                                  "v6.example.test AAAA ::1\n"
                                  "text.example.test no address here\n";

http::client_options resolving(const cppmilter::test::fake_dns& dns, std::string ca_file = "") {
    auto o = trusting(std::move(ca_file));
    o.dns_servers = {dns.server()};
    return o;
}

BOOST_AUTO_TEST_CASE(host_names_are_looked_up) {
    const auto& s = policy_server();
    cppmilter::test::fake_dns dns{endpoint_zone};
    http::client c{resolving(dns, s.ca)};
    BOOST_TEST(post(c, at(false, s.http, "/continue", "policy.example.test")).status == 200u);
    // The certificate is checked against the URL's name: it names policy.example.test, not
    // other.example.test (same address).
    BOOST_TEST(post(c, at(true, s.https, "/continue", "policy.example.test")).status == 200u);
    BOOST_TEST(
        static_cast<int>(failure_of(c, at(true, s.https, "/continue", "other.example.test"))) ==
        static_cast<int>(http::failure::tls));
}

BOOST_AUTO_TEST_CASE(names_that_do_not_resolve_fail_with_why) {
    const auto& s = policy_server();
    cppmilter::test::fake_dns dns{endpoint_zone};
    http::client c{resolving(dns)};
    auto message_of = [&](const http::url& u, std::chrono::milliseconds timeout = 5s) {
        try {
            post(c, u, timeout);
        } catch (const http::error& e) {
            BOOST_TEST_MESSAGE(to_string(e.kind) << ": " << e.what());
            return std::string{to_string(e.kind)} + ": " + e.what();
        }
        return std::string{"no failure"};
    };
    BOOST_TEST(message_of(at(false, s.http, "/continue", "absent.example.test")) ==
               "resolve: cannot resolve host 'absent.example.test': Domain name not found");
    BOOST_TEST(message_of(at(false, s.http, "/continue", "text.example.test"))
                   .starts_with("resolve: cannot resolve host 'text.example.test': "));
    // An IPv6-only name is found, and ::1 tried: the endpoint listens on 127.0.0.1 only.
    BOOST_TEST(message_of(at(false, s.http, "/continue", "v6.example.test"))
                   .starts_with("connect: cannot connect to http://v6.example.test:"));
    // A name server that never answers: the request's timeout bounds the lookup.
    cppmilter::test::fake_dns silent{endpoint_zone, true};
    http::client waiting{resolving(silent)};
    const auto started = std::chrono::steady_clock::now();
    BOOST_TEST(
        static_cast<int>(failure_of(waiting, at(false, s.http, "/continue", "policy.example.test"),
                                    400ms)) == static_cast<int>(http::failure::timeout));
    const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - started)
                             .count();
    BOOST_TEST(took_ms < 3000);
    auto bad = trusting("");
    bad.dns_servers = {"not an address"};
    BOOST_CHECK_THROW(http::client{bad}, http::error);
}

BOOST_AUTO_TEST_CASE(connections_are_kept_alive_and_replaced_when_closed) {
    const auto& s = policy_server();
    for (bool tls : {false, true}) {
        http::client c{trusting(s.ca)};
        const std::uint16_t port = tls ? s.https : s.http;
        asio::io_context io; // one io_context: one pool, as on one server thread
        std::vector<std::string> peers;
        std::exception_ptr failure;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                for (int i = 0; i < 3; ++i)
                    peers.push_back(peer_of(co_await c.post(at(tls, port, "/peer"), "{}", {}, 5s)));
                // The server closes this one after answering, as an idle timeout would; the
                // next request notices and connects afresh.
                co_await c.post(at(tls, port, "/drop"), "{}", {}, 5s);
                peers.push_back(peer_of(co_await c.post(at(tls, port, "/peer"), "{}", {}, 5s)));
                peers.push_back(peer_of(co_await c.post(at(tls, port, "/peer"), "{}", {}, 5s)));
            },
            [&](std::exception_ptr e) { failure = e; });
        io.run();
        if (failure) std::rethrow_exception(failure);
        BOOST_REQUIRE_EQUAL(peers.size(), 5u);
        BOOST_TEST(peers[0] == peers[1]); // one connection for the first three (and /drop)
        BOOST_TEST(peers[1] == peers[2]);
        BOOST_TEST(peers[3] != peers[2]); // a new one after the server closed it
        BOOST_TEST(peers[3] == peers[4]);
    }
}

BOOST_AUTO_TEST_SUITE_END()
