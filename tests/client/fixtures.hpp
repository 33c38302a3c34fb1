// Shared by the client tests: in-process servers, fake filters on raw sockets, messages.
#pragma once

#include <boost/test/unit_test.hpp>

#include "showcase.hpp"
#include "stamp.hpp"

#include <cppmilter/asio/server.hpp>
#include <cppmilter/client/client.hpp>
#include <cppmilter/proto/encoder.hpp>
#include <cppmilter/testing/harness.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace test_client {
namespace cm = cppmilter;
namespace cl = cppmilter::client;
namespace proto = cppmilter::proto;
namespace srv = cppmilter::asio_server;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Milters and servers

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t{co_await asio::this_coro::executor, d};
    co_await t.async_wait(asio::use_awaitable);
}

/// End of message takes 700 ms: the server sends PROGRESS meanwhile.
inline const auto slow = cm::milter(
    cm::on_end_of_message([](const cm::end_of_message&) -> asio::awaitable<cm::eom<cm::add_header>> {
        co_await sleep_for(700ms);
        co_return cm::add_header{"X-Slow", "done"};
    }));

template <class Pipeline>
using server_for = srv::server<std::remove_cvref_t<Pipeline>>;

inline srv::server_options options(std::string listen) {
    srv::server_options o;
    o.listen = {std::move(listen)};
    o.threads = 1;
    o.progress_interval = 100ms;
    o.shutdown_timeout = 5s;
    return o;
}

struct temp_dir {
    std::string path;
    temp_dir() {
        char name[] = "/tmp/cppmilter-client-XXXXXX";
        BOOST_TEST_REQUIRE(::mkdtemp(name) != nullptr);
        path = name;
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

/// A running in-process server, stopped at scope end.
template <class Pipeline>
struct running {
    server_for<Pipeline> server;
    std::vector<std::string> addresses;
    running(const Pipeline& p, std::vector<std::string> listen) : server{p, [&] {
        auto o = options("");
        o.listen = std::move(listen);
        return o;
    }()} {
        addresses = server.start();
    }
    ~running() {
        server.request_stop();
        server.wait();
    }
};

inline cl::client_options quick() {
    cl::client_options o;
    o.command_timeout = 10s;
    o.content_timeout = 10s;
    return o;
}

inline cl::message make_message(std::string subject, std::vector<std::string> rcpts = {"<bob@example.test>"},
                         std::string from = "<alice@example.test>") {
    cl::message m = cl::parse_rfc5322("Subject: " + subject + "\nX-Change: old\nFrom: alice@example.test\n\nHello.\n");
    m.sender = std::move(from);
    m.recipients = std::move(rcpts);
    return m;
}

inline cl::delivery deliver_to(const std::string& address, const cl::message& m, cl::client_options o = quick()) {
    cl::blocking_client c{o};
    c.connect(address);
    c.negotiate();
    auto d = cl::deliver(c, cl::session_info{}, m);
    c.quit();
    return d;
}

inline std::optional<std::string> header_of(const cl::message& m, std::string_view name) {
    for (const auto& [n, v] : m.headers)
        if (n == name) return v;
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Fake filters on raw sockets

/// Listens on 127.0.0.1 (a free port), accepts one connection in a thread and hands each
/// decoded command to `respond`, which appends the bytes to write back. With no `respond`,
/// it stays silent: it accepts, reads nothing and answers nothing until destroyed.
class fake_filter {
public:
    using responder = std::function<void(const proto::command&, std::string&)>;

    explicit fake_filter(responder respond = {}) : respond_{std::move(respond)} {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        BOOST_TEST_REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        BOOST_TEST_REQUIRE(::listen(listen_fd_, 4) == 0);
        socklen_t len = sizeof a;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
        address_ = "inet:127.0.0.1:" + std::to_string(ntohs(a.sin_port));
        thread_ = std::thread{[this] { run(); }};
    }
    ~fake_filter() {
        stop_ = true;
        thread_.join();
        ::close(listen_fd_);
    }
    const std::string& address() const { return address_; }

private:
    bool readable(int fd) {
        while (!stop_) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 20) > 0) return true;
        }
        return false;
    }
    void run() {
        if (!readable(listen_fd_)) return;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) return;
        proto::command_decoder decoder;
        while (respond_ && readable(fd)) {
            char buf[4096];
            const auto n = ::read(fd, buf, sizeof buf);
            if (n <= 0) break;
            decoder.feed({buf, static_cast<std::size_t>(n)});
            std::string out;
            while (auto c = decoder.next())
                if (*c) respond_(**c, out);
            if (!out.empty() && ::write(fd, out.data(), out.size()) < 0) break;
        }
        while (readable(fd)) { // keep the connection open (silent) until the test ends
            char buf[4096];
            if (::read(fd, buf, sizeof buf) <= 0) break;
        }
        ::close(fd);
    }

    responder respond_;
    int listen_fd_ = -1;
    std::string address_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

/// A filter that negotiates `reply`, answers MAIL with `on_mail` and everything else CONTINUE.
inline fake_filter::responder scripted(proto::optneg_reply reply, std::vector<proto::reply> on_mail) {
    return [reply, on_mail](const proto::command& c, std::string& out) {
        switch (proto::kind_of(c)) {
        case proto::command_kind::optneg: (void)proto::encode(out, reply); break;
        case proto::command_kind::mail:
            for (const auto& r : on_mail) (void)proto::encode(out, r);
            break;
        case proto::command_kind::macro:
        case proto::command_kind::abort:
        case proto::command_kind::quit: break;
        default: (void)proto::encode(out, proto::continue_{});
        }
    };
}

inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const cl::client_error& e) {
        return e.what();
    }
    return "(no client_error)";
}


} // namespace test_client
