// A private redis-server for tests (Debian redis-server): 127.0.0.1, a free port, no
// persistence, stopped by PID; plus a blocking side connection to look at what it holds.
#pragma once

#include <cppmilter/contrib/redis.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace test_redis {
namespace asio = boost::asio;
namespace redis = cppmilter::redis;

inline std::uint16_t free_port() {
    asio::io_context io;
    asio::ip::tcp::acceptor a{io, {asio::ip::make_address("127.0.0.1"), 0}};
    return a.local_endpoint().port();
}

/// Sends one command on a blocking connection and reads its reply (for checks, not speed).
inline redis::reply query(const std::string& host, std::uint16_t port, std::initializer_list<std::string_view> args) {
    asio::io_context io;
    asio::ip::tcp::socket s{io};
    s.connect({asio::ip::make_address(host), port});
    std::string out;
    redis::encode_command(out, std::span{args.begin(), args.size()});
    asio::write(s, asio::buffer(out));
    std::string in;
    for (;;) {
        auto parsed = redis::parse_reply(in, 1 << 24);
        if (parsed.state == redis::parse_result::status::complete) return parsed.value;
        if (parsed.state == redis::parse_result::status::malformed) throw std::runtime_error{parsed.error};
        char chunk[4096];
        in.append(chunk, s.read_some(asio::buffer(chunk)));
    }
}

class server {
public:
    /// Starts redis-server with `extra` arguments (e.g. {"--requirepass", "secret"}).
    explicit server(std::vector<std::string> extra = {}) : port_{free_port()}, extra_{std::move(extra)} {
        char dir[] = "/tmp/cppmilter-redis-XXXXXX";
        if (!::mkdtemp(dir)) throw std::runtime_error{"mkdtemp failed"};
        dir_ = dir;
        start();
    }
    ~server() {
        stop();
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    std::string spec() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string unix_path() const { return dir_ + "/redis.sock"; }
    std::string password() const {
        for (std::size_t i = 0; i + 1 < extra_.size(); ++i)
            if (extra_[i] == "--requirepass") return extra_[i + 1];
        return {};
    }

    /// A command on a side connection (AUTH first when the server has a password).
    redis::reply operator()(std::initializer_list<std::string_view> args) const {
        if (password().empty()) return query("127.0.0.1", port_, args);
        // One connection for AUTH and the command.
        asio::io_context io;
        asio::ip::tcp::socket s{io};
        s.connect({asio::ip::make_address("127.0.0.1"), port_});
        std::string out;
        const std::string secret = password(); // a view of it must outlive this line
        const std::array<std::string_view, 2> auth{"AUTH", secret};
        redis::encode_command(out, auth);
        redis::encode_command(out, std::span{args.begin(), args.size()});
        asio::write(s, asio::buffer(out));
        std::string in;
        int replies = 0;
        for (;;) {
            auto parsed = redis::parse_reply(in, 1 << 24);
            if (parsed.state == redis::parse_result::status::complete) {
                in.erase(0, parsed.consumed);
                if (++replies == 2) return parsed.value;
                continue;
            }
            if (parsed.state == redis::parse_result::status::malformed) throw std::runtime_error{parsed.error};
            char chunk[4096];
            in.append(chunk, s.read_some(asio::buffer(chunk)));
        }
    }

    void start() {
        std::vector<std::string> args{"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", dir_,
                                      "--unixsocket", unix_path(), "--unixsocketperm", "700",
                                      "--logfile", dir_ + "/redis.log"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error{"fork failed"};
        if (pid_ == 0) {
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp(CPPMILTER_REDIS_SERVER, argv.data());
            ::_exit(127);
        }
        // Ready when it answers (a side connection that is refused until it listens).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
        for (;;) {
            try {
                const auto r = query("127.0.0.1", port_, {"PING"});
                if (r.text == "PONG" || r.is_error()) return; // NOAUTH also means it is up
            } catch (const std::exception&) {
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error{"redis-server exited at start (see " + dir_ + "/redis.log)"};
            }
            if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error{"redis-server did not answer within 10 s"};
            std::this_thread::sleep_for(std::chrono::milliseconds{20});
        }
    }

    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

private:
    std::uint16_t port_;
    std::vector<std::string> extra_;
    std::string dir_;
    pid_t pid_ = -1;
};

} // namespace test_redis
