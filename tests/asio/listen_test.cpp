// The listener layer on real sockets: 127.0.0.1, ::1 and UNIX sockets in a temporary
// directory. Every wait is bounded (io_context::run_for, alarm() in forked children).
#define BOOST_TEST_MODULE cppmilter asio listeners
#include <boost/test/unit_test.hpp>

#include <cppmilter/asio/listen.hpp>

#include "support/prerequisite.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace asio = boost::asio;
namespace srv = cppmilter::asio_server;
using kind = srv::listen_spec::kind;
using boost::system::error_code;
using namespace std::chrono_literals;

namespace {

constexpr auto bound = 5s; // the longest any single exchange may take

// ---------------------------------------------------------------------------------------------
// Helpers

int int_option(int fd, int level, int name) {
    int value = -1;
    socklen_t len = sizeof value;
    if (::getsockopt(fd, level, name, &value, &len) != 0) return -1;
    return value;
}

bool cloexec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }
bool fd_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

/// What open_listener() throws, or "" if it does not.
std::string open_error(asio::io_context& io, const srv::listen_spec& spec, const srv::listener_options& o = {},
                       error_code* code = nullptr) {
    try {
        srv::listener l = srv::open_listener(io, spec, o);
        return "";
    } catch (const srv::listen_error& e) {
        if (code) *code = e.code();
        return e.what();
    }
}

srv::listen_spec spec(const std::string& text) {
    auto r = srv::parse_listen_spec(text);
    BOOST_TEST_REQUIRE(r.has_value(), text << ": " << (r ? "" : r.error()));
    return *r;
}

srv::listen_spec unix_spec(const std::string& path) {
    srv::listen_spec s;
    s.type = kind::unix_socket;
    s.path = path;
    return s;
}

/// A private directory under /tmp (short paths: sun_path holds 107 bytes).
struct temp_dir {
    std::string path;
    temp_dir() {
        char name[] = "/tmp/cppmilter-listen-XXXXXX";
        BOOST_TEST_REQUIRE(::mkdtemp(name) != nullptr);
        path = name;
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
};

bool exists(const std::string& path) {
    struct stat st{};
    return ::lstat(path.c_str(), &st) == 0;
}

unsigned file_mode(const std::string& path) {
    struct stat st{};
    if (::lstat(path.c_str(), &st) != 0) return 0xffff;
    return st.st_mode;
}

/// Connects a client of `Protocol` to `endpoint` while `l` accepts; both within `bound`.
/// Then sends "ping" from the client and reads it on the accepted socket.
template <class Protocol>
std::optional<srv::listener::socket_type> connect_and_accept(asio::io_context& io, srv::listener& l,
                                                            const typename Protocol::endpoint& endpoint) {
    typename Protocol::socket client{io};
    std::optional<srv::listener::socket_type> accepted;
    bool connected = false;
    std::array<char, 4> received{};
    bool got_ping = false;
    l.async_accept([&](error_code ec, srv::listener::socket_type s) {
        BOOST_TEST(!ec, "accept: " << ec.message());
        if (ec) return;
        accepted.emplace(std::move(s));
        asio::async_read(*accepted, asio::buffer(received), [&](error_code rec, std::size_t) {
            BOOST_TEST(!rec, "read: " << rec.message());
            got_ping = !rec && std::string(received.data(), received.size()) == "ping";
        });
    });
    client.async_connect(endpoint, [&](error_code ec) {
        BOOST_TEST(!ec, "connect: " << ec.message());
        if (ec) return;
        connected = true;
        asio::async_write(client, asio::buffer("ping", 4), [](error_code, std::size_t) {});
    });
    io.restart();
    io.run_for(bound);
    BOOST_TEST(connected);
    BOOST_TEST(got_ping);
    if (!got_ping) return std::nullopt;
    return accepted;
}

/// Runs `body` in a forked child (for what touches fd 3 and the environment) and returns its
/// exit status: 0 if every CHILD_CHECK held. The child dies by SIGALRM after 10 s.
int in_child(const std::function<int()>& body) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return 200;
    if (pid == 0) {
        ::alarm(10);
        int rc = 97;
        try {
            rc = body();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: exception: %s\n", e.what());
            rc = 98;
        }
        std::fflush(stderr);
        ::_exit(rc);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return 201;
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "child check failed at line %d: %s\n", __LINE__, #cond);         \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#define CHILD_CHECK_TEXT(actual, expected)                                                         \
    do {                                                                                           \
        const std::string a_ = (actual), e_ = (expected);                                          \
        if (a_ != e_) {                                                                            \
            std::fprintf(stderr, "child check failed at line %d:\n  got      %s\n  expected %s\n", \
                         __LINE__, a_.c_str(), e_.c_str());                                        \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/// A raw listening TCP socket on 127.0.0.1 (kernel-chosen port) or a raw UNIX socket at
/// `path`; `listening` false leaves it unlistened.
int raw_tcp_socket(bool listening = true) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) return -1;
    if (listening && ::listen(fd, 8) != 0) return -1;
    return fd;
}

int raw_unix_socket(const std::string& path, bool listening = true) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) return -1;
    if (listening && ::listen(fd, 8) != 0) return -1;
    return fd;
}

std::uint16_t bound_port(int fd) {
    sockaddr_in sin{};
    socklen_t len = sizeof sin;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
    return ntohs(sin.sin_port);
}

/// Moves the given fds to 3, 4, ... (via high numbers, so that none is overwritten early).
bool place_at_3(std::vector<int> fds) {
    for (int& fd : fds) {
        const int high = ::fcntl(fd, F_DUPFD, 100);
        if (high < 0) return false;
        ::close(fd);
        fd = high;
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
        if (::dup2(fds[i], 3 + static_cast<int>(i)) < 0) return false;
        ::close(fds[i]);
    }
    return true;
}

void set_activation_env(const std::string& pid, const std::string& fds) {
    ::setenv("LISTEN_PID", pid.c_str(), 1);
    ::setenv("LISTEN_FDS", fds.c_str(), 1);
    ::setenv("LISTEN_FDNAMES", "milter", 1);
}

bool activation_env_gone() {
    return !std::getenv("LISTEN_PID") && !std::getenv("LISTEN_FDS") && !std::getenv("LISTEN_FDNAMES");
}

/// What inherited_listeners() throws, or "".
std::string inherited_error(asio::io_context& io) {
    try {
        auto ls = srv::inherited_listeners(io);
        return "";
    } catch (const srv::listen_error& e) {
        return e.what();
    }
}

} // namespace

// =============================================================================================

BOOST_AUTO_TEST_SUITE(listen_spec)

struct valid_case {
    std::string text;
    kind type;
    std::string host;
    std::uint16_t port;
    std::string path;
    int fd;
};

const std::string path107 = "/" + std::string(106, 'p');

const std::vector<valid_case> valid = {
    // Sendmail and Postfix styles, IPv4.
    {"inet:8891@127.0.0.1", kind::inet, "127.0.0.1", 8891, "", -1},
    {"inet:8891@0.0.0.0", kind::inet, "0.0.0.0", 8891, "", -1},
    {"inet:8891@localhost", kind::inet, "127.0.0.1", 8891, "", -1},
    {"inet:8891@LocalHost", kind::inet, "127.0.0.1", 8891, "", -1},
    {"INET:8891@192.0.2.10", kind::inet, "192.0.2.10", 8891, "", -1},
    {"inet:127.0.0.1:8891", kind::inet, "127.0.0.1", 8891, "", -1},
    {"inet:localhost:8891", kind::inet, "127.0.0.1", 8891, "", -1},
    {"inet:8891", kind::inet, "127.0.0.1", 8891, "", -1}, // loopback, not all interfaces
    {"inet:0@127.0.0.1", kind::inet, "127.0.0.1", 0, "", -1},
    {"inet:65535@127.0.0.1", kind::inet, "127.0.0.1", 65535, "", -1},
    {"inet:008891@127.0.0.1", kind::inet, "127.0.0.1", 8891, "", -1},
    {"127.0.0.1:8891", kind::inet, "127.0.0.1", 8891, "", -1},
    {"localhost:8891", kind::inet, "127.0.0.1", 8891, "", -1},
    {"0.0.0.0:25", kind::inet, "0.0.0.0", 25, "", -1},
    // IPv6.
    {"inet6:8891@::1", kind::inet6, "::1", 8891, "", -1},
    {"inet6:8891@::", kind::inet6, "::", 8891, "", -1},
    {"inet6:8891@localhost", kind::inet6, "::1", 8891, "", -1},
    {"inet6:8891@0:0:0:0:0:0:0:1", kind::inet6, "::1", 8891, "", -1},
    {"inet6:8891@2001:DB8::A", kind::inet6, "2001:db8::a", 8891, "", -1},
    {"inet6:8891@::ffff:127.0.0.1", kind::inet6, "::ffff:127.0.0.1", 8891, "", -1},
    {"inet6:[::1]:8891", kind::inet6, "::1", 8891, "", -1},
    {"inet6:localhost:8891", kind::inet6, "::1", 8891, "", -1},
    {"inet6:8891", kind::inet6, "::1", 8891, "", -1},
    {"[::1]:8891", kind::inet6, "::1", 8891, "", -1},
    {"[::]:0", kind::inet6, "::", 0, "", -1},
    // UNIX.
    {"unix:/run/milter.sock", kind::unix_socket, "", 0, "/run/milter.sock", -1},
    {"local:/run/milter.sock", kind::unix_socket, "", 0, "/run/milter.sock", -1},
    {"UNIX:/run/milter.sock", kind::unix_socket, "", 0, "/run/milter.sock", -1},
    {"/run/milter.sock", kind::unix_socket, "", 0, "/run/milter.sock", -1},
    {"unix:" + path107, kind::unix_socket, "", 0, path107, -1},
    // Inherited.
    {"fd:3", kind::systemd_fd, "", 0, "", 3},
    {"fd:0", kind::systemd_fd, "", 0, "", 0},
};

BOOST_AUTO_TEST_CASE(valid_specs) {
    for (const auto& c : valid) {
        BOOST_TEST_CONTEXT(c.text) {
            auto r = srv::parse_listen_spec(c.text);
            BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error()));
            BOOST_TEST((r->type == c.type));
            BOOST_TEST(r->host == c.host);
            BOOST_TEST(r->port == c.port);
            BOOST_TEST(r->path == c.path);
            BOOST_TEST(r->fd == c.fd);
            // The canonical spelling reads back as the same spec.
            auto again = srv::parse_listen_spec(srv::to_string(*r));
            BOOST_TEST_REQUIRE(again.has_value(), srv::to_string(*r));
            BOOST_TEST((*again == *r), srv::to_string(*r));
        }
    }
}

BOOST_AUTO_TEST_CASE(canonical_spelling) {
    BOOST_TEST(srv::to_string(spec("inet:8891@localhost")) == "inet:127.0.0.1:8891");
    BOOST_TEST(srv::to_string(spec("inet6:8891@0:0::1")) == "inet6:[::1]:8891");
    BOOST_TEST(srv::to_string(spec("local:/run/m.sock")) == "unix:/run/m.sock");
    BOOST_TEST(srv::to_string(spec("fd:3")) == "fd:3");
}

struct invalid_case {
    std::string text;
    std::string message;
};

const std::string path108 = "/" + std::string(107, 'p');

const std::vector<invalid_case> invalid = {
    {"", "empty listen spec"},
    // Ports.
    {"inet:abc@127.0.0.1", "inet:abc@127.0.0.1: port 'abc' is not a number 1..65535"},
    {"inet:65536@127.0.0.1", "inet:65536@127.0.0.1: port '65536' is not a number 1..65535"},
    {"inet:-1@127.0.0.1", "inet:-1@127.0.0.1: port '-1' is not a number 1..65535"},
    {"inet:+25@127.0.0.1", "inet:+25@127.0.0.1: port '+25' is not a number 1..65535"},
    {"inet: 25@127.0.0.1", "inet: 25@127.0.0.1: port ' 25' is not a number 1..65535"},
    {"inet:127.0.0.1:smtp", "inet:127.0.0.1:smtp: port 'smtp' is not a number 1..65535"},
    {"inet:@127.0.0.1", "inet:@127.0.0.1: port is missing"},
    {"inet:", "inet:: port is missing"},
    {"inet:127.0.0.1:", "inet:127.0.0.1:: port is missing"},
    // Hosts.
    {"inet:8891@", "inet:8891@: host is missing"},
    {"inet::8891", "inet::8891: host is missing"},
    {"inet:8891@mail.example.com",
     "inet:8891@mail.example.com: host 'mail.example.com' is not a numeric address or localhost (host names are "
     "not resolved)"},
    {"inet:8891@127.1", "inet:8891@127.1: host '127.1' is not a numeric address or localhost (host names are not "
                        "resolved)"},
    {"mail.example.com:25",
     "mail.example.com:25: host 'mail.example.com' is not a numeric address or localhost (host names are not "
     "resolved)"},
    {"inet:8891@::1", "inet:8891@::1: host '::1' is an IPv6 address (use inet6:)"},
    {"inet:[::1]:8891", "inet:[::1]:8891: brackets are for IPv6 addresses (use inet6:[HOST]:PORT)"},
    {"inet6:8891@127.0.0.1", "inet6:8891@127.0.0.1: host '127.0.0.1' is an IPv4 address (use inet:)"},
    {"[127.0.0.1]:8891", "[127.0.0.1]:8891: host '127.0.0.1' is an IPv4 address (use inet:)"},
    {"inet6:::1:8891", "inet6:::1:8891: write the IPv6 address in brackets: inet6:[HOST]:PORT"},
    {"::1:8891", "::1:8891: write the IPv6 address in brackets: [HOST]:PORT"},
    {"inet6:[::1:8891", "inet6:[::1:8891: missing ']' after the IPv6 address"},
    {"inet6:[::1]8891", "inet6:[::1]8891: expected ':PORT' after ']'"},
    {"inet6:[::1]", "inet6:[::1]: port is missing"},
    {"[::1]", "[::1]: port is missing"},
    {"inet6:[]:8891", "inet6:[]:8891: host is missing"},
    // Kinds.
    {"8891", "8891: not a listen spec (expected inet:PORT@HOST, inet:HOST:PORT, inet6:PORT@HOST, "
             "inet6:[HOST]:PORT, unix:/path or fd:N)"},
    {"tcp:8891", "tcp:8891: unknown kind 'tcp' (expected inet:, inet6:, unix:, local:, fd:, /path or HOST:PORT)"},
    // Paths.
    {"unix:", "unix:: path is missing"},
    {"unix:milter.sock", "unix:milter.sock: path 'milter.sock' is not absolute"},
    {"local:run/milter.sock", "local:run/milter.sock: path 'run/milter.sock' is not absolute"},
    {"unix:" + path108, "unix:" + path108 + ": path is 108 bytes long; a UNIX socket path holds at most 107"},
    // File descriptors.
    {"fd:", "fd:: file descriptor number is missing"},
    {"fd:abc", "fd:abc: fd 'abc' is not a file descriptor number"},
    {"fd:-3", "fd:-3: fd '-3' is not a file descriptor number"},
    {"fd:99999999999", "fd:99999999999: fd '99999999999' is not a file descriptor number"},
    // Control characters are shown, never printed raw: the message stays one line.
    {"inet:8891\n@127.0.0.1", "inet:8891\\x0a@127.0.0.1: listen spec holds a control character"},
    {std::string{"unix:/run/a\0b", 13}, "unix:/run/a\\x00b: listen spec holds a control character"},
};

BOOST_AUTO_TEST_CASE(invalid_specs) {
    for (const auto& c : invalid) {
        BOOST_TEST_CONTEXT(c.text) {
            auto r = srv::parse_listen_spec(c.text);
            BOOST_TEST_REQUIRE(!r.has_value(), "parsed as " << (r ? srv::to_string(*r) : ""));
            BOOST_TEST(r.error() == c.message);
            BOOST_TEST(r.error().find('\n') == std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================

BOOST_AUTO_TEST_SUITE(tcp_listener)

BOOST_AUTO_TEST_CASE(ipv4_ephemeral_port) {
    asio::io_context io;
    auto l = srv::open_listener(io, spec("inet:0@127.0.0.1"));
    BOOST_TEST(l.is_open());
    BOOST_TEST(l.family() == AF_INET);
    BOOST_TEST(!l.is_unix());
    BOOST_TEST_REQUIRE(l.port() != 0);
    BOOST_TEST(l.local_endpoint_string() == "inet:127.0.0.1:" + std::to_string(l.port()));
    // The endpoint string is a spec that names the same socket.
    BOOST_TEST(srv::to_string(spec(l.local_endpoint_string())) == l.local_endpoint_string());
    BOOST_TEST(int_option(l.native_handle(), SOL_SOCKET, SO_REUSEADDR) == 1);
    BOOST_TEST(int_option(l.native_handle(), SOL_SOCKET, SO_ACCEPTCONN) == 1);
    BOOST_TEST(cloexec(l.native_handle()));

    auto s = connect_and_accept<asio::ip::tcp>(io, l, {asio::ip::make_address("127.0.0.1"), l.port()});
    BOOST_TEST_REQUIRE(s.has_value());
    BOOST_TEST(int_option(s->native_handle(), IPPROTO_TCP, TCP_NODELAY) == 1);
    BOOST_TEST(cloexec(s->native_handle()));
}

BOOST_AUTO_TEST_CASE(ipv6_ephemeral_port, *boost::unit_test::precondition(cppmilter::test::ipv6_loopback)) {
    asio::io_context io;
    auto l = srv::open_listener(io, spec("inet6:[::1]:0"));
    BOOST_TEST(l.family() == AF_INET6);
    BOOST_TEST_REQUIRE(l.port() != 0);
    BOOST_TEST(l.local_endpoint_string() == "inet6:[::1]:" + std::to_string(l.port()));
    BOOST_TEST(srv::to_string(spec(l.local_endpoint_string())) == l.local_endpoint_string());
    BOOST_TEST(int_option(l.native_handle(), IPPROTO_IPV6, IPV6_V6ONLY) == 1);
    BOOST_TEST(int_option(l.native_handle(), SOL_SOCKET, SO_REUSEADDR) == 1);

    auto s = connect_and_accept<asio::ip::tcp>(io, l, {asio::ip::make_address("::1"), l.port()});
    BOOST_TEST_REQUIRE(s.has_value());
    BOOST_TEST(int_option(s->native_handle(), IPPROTO_TCP, TCP_NODELAY) == 1);
}

BOOST_AUTO_TEST_CASE(port_in_use) {
    asio::io_context io;
    auto l = srv::open_listener(io, spec("inet:0@127.0.0.1"));
    error_code code;
    const auto port = std::to_string(l.port());
    BOOST_TEST(open_error(io, spec("inet:" + port + "@127.0.0.1"), {}, &code) ==
               "inet:127.0.0.1:" + port + ": cannot bind: Address already in use");
    BOOST_TEST((code == boost::system::errc::address_in_use));
}

BOOST_AUTO_TEST_CASE(host_not_numeric_when_built_by_hand) {
    asio::io_context io;
    srv::listen_spec s;
    s.type = kind::inet;
    s.host = "localhost"; // parse_listen_spec() resolves it; open_listener() resolves nothing
    BOOST_TEST(open_error(io, s) == "inet:localhost:0: host 'localhost' is not a numeric IPv4 address");
    s.host = "::1";
    BOOST_TEST(open_error(io, s) == "inet:::1:0: host '::1' is not a numeric IPv4 address");
}

BOOST_AUTO_TEST_CASE(accept_onto_another_context_and_with_coroutines) {
    asio::io_context io;
    asio::io_context other;
    auto l = srv::open_listener(io, spec("inet:0@127.0.0.1"));
    asio::ip::tcp::socket client{io};
    bool accepted = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto [ec, s] = co_await l.async_accept(other, asio::as_tuple(asio::use_awaitable));
            BOOST_TEST(!ec, ec.message());
            BOOST_TEST((s.get_executor() == asio::any_io_executor{other.get_executor()}));
            BOOST_TEST(int_option(s.native_handle(), IPPROTO_TCP, TCP_NODELAY) == 1);
            accepted = true;
        },
        asio::detached);
    client.async_connect({asio::ip::make_address("127.0.0.1"), l.port()}, [](error_code) {});
    io.run_for(bound);
    BOOST_TEST(accepted);
}

BOOST_AUTO_TEST_CASE(close_aborts_a_pending_accept) {
    asio::io_context io;
    auto l = srv::open_listener(io, spec("inet:0@127.0.0.1"));
    std::optional<error_code> result;
    l.async_accept([&](error_code ec, srv::listener::socket_type) { result = ec; });
    asio::post(io, [&] { l.close(); });
    io.run_for(bound);
    BOOST_TEST_REQUIRE(result.has_value());
    BOOST_TEST((*result == asio::error::operation_aborted));
    BOOST_TEST(!l.is_open());
    l.close(); // idempotent
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================

BOOST_AUTO_TEST_SUITE(unix_listener)

/// Sets a restrictive umask for the test's duration: modes must come from chmod, not from it.
struct strict_umask {
    mode_t saved = ::umask(077);
    ~strict_umask() { ::umask(saved); }
};

BOOST_AUTO_TEST_CASE(default_mode_0660_and_removed_on_close) {
    strict_umask um;
    temp_dir dir;
    const auto path = dir / "milter.sock";
    asio::io_context io;
    auto l = srv::open_listener(io, spec("unix:" + path));
    BOOST_TEST(l.family() == AF_UNIX);
    BOOST_TEST(l.is_unix());
    BOOST_TEST(l.port() == 0);
    BOOST_TEST(l.local_endpoint_string() == "unix:" + path);
    BOOST_TEST(S_ISSOCK(file_mode(path)));
    BOOST_TEST((file_mode(path) & 07777) == 0660u);
    BOOST_TEST(cloexec(l.native_handle()));

    auto s = connect_and_accept<asio::local::stream_protocol>(io, l, {path});
    BOOST_TEST_REQUIRE(s.has_value());
    BOOST_TEST(cloexec(s->native_handle()));

    l.close();
    BOOST_TEST(!exists(path));
}

BOOST_AUTO_TEST_CASE(custom_modes) {
    strict_umask um;
    temp_dir dir;
    asio::io_context io;
    for (unsigned mode : {0600u, 0666u, 0700u, 0u}) {
        BOOST_TEST_CONTEXT("mode 0" << std::oct << mode) {
            const auto path = dir / "m.sock";
            srv::listener_options o;
            o.socket_mode = mode;
            auto l = srv::open_listener(io, spec("local:" + path), o);
            BOOST_TEST((file_mode(path) & 07777) == mode);
        }
    }
    srv::listener_options o;
    o.socket_mode = 01777;
    const auto path = dir / "bad.sock";
    BOOST_TEST(open_error(io, unix_spec(path), o) == "unix:" + path + ": socket mode 01777 is not within 0777");
    BOOST_TEST(!exists(path));
}

BOOST_AUTO_TEST_CASE(removed_by_the_destructor_and_once_after_a_move) {
    temp_dir dir;
    const auto path = dir / "milter.sock";
    asio::io_context io;
    {
        std::optional<srv::listener> kept;
        {
            auto l = srv::open_listener(io, spec(path));
            kept.emplace(std::move(l));
        } // the moved-from listener owns nothing
        BOOST_TEST(exists(path));
        BOOST_TEST(kept->is_open());
        BOOST_TEST(kept->local_endpoint_string() == "unix:" + path);
    }
    BOOST_TEST(!exists(path));
}

BOOST_AUTO_TEST_CASE(stale_socket_file_is_replaced) {
    temp_dir dir;
    const auto path = dir / "milter.sock";
    // A socket file left behind by a process that is gone: bound, closed, never unlinked.
    const int old = raw_unix_socket(path);
    BOOST_TEST_REQUIRE(old >= 0);
    ::close(old);
    BOOST_TEST_REQUIRE(S_ISSOCK(file_mode(path)));

    asio::io_context io;
    auto l = srv::open_listener(io, unix_spec(path));
    BOOST_TEST(connect_and_accept<asio::local::stream_protocol>(io, l, {path}).has_value());
}

BOOST_AUTO_TEST_CASE(live_socket_is_refused_and_kept) {
    temp_dir dir;
    const auto path = dir / "milter.sock";
    asio::io_context io;
    auto first = srv::open_listener(io, unix_spec(path));
    error_code code;
    BOOST_TEST(open_error(io, unix_spec(path), {}, &code) == "unix:" + path + ": another process is listening");
    BOOST_TEST(!code);
    // The first listener still has its file and still works. The probe that found it alive
    // arrives first, as a connection closed at once.
    BOOST_TEST(S_ISSOCK(file_mode(path)));
    bool probe_seen = false;
    first.async_accept([&](error_code ec, srv::listener::socket_type s) {
        BOOST_TEST(!ec);
        char byte = 0;
        error_code rec;
        s.read_some(asio::buffer(&byte, 1), rec); // the probe is closed already: EOF at once
        probe_seen = rec == asio::error::eof;
    });
    io.run_for(bound);
    BOOST_TEST(probe_seen);
    BOOST_TEST(connect_and_accept<asio::local::stream_protocol>(io, first, {path}).has_value());

    // Also when the other process is not ours and has a full backlog (EAGAIN).
    const auto path2 = dir / "busy.sock";
    const int busy = raw_unix_socket(path2, false);
    BOOST_TEST_REQUIRE(busy >= 0);
    BOOST_TEST_REQUIRE(::listen(busy, 0) == 0);
    std::vector<int> clients;
    for (int i = 0; i < 4; ++i) { // fill the backlog with connections nobody accepts
        const int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        std::memcpy(sun.sun_path, path2.c_str(), path2.size() + 1);
        (void)::connect(c, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
        clients.push_back(c);
    }
    BOOST_TEST(open_error(io, unix_spec(path2)) == "unix:" + path2 + ": another process is listening");
    BOOST_TEST(S_ISSOCK(file_mode(path2)));
    for (int c : clients) ::close(c);
    ::close(busy);
}

BOOST_AUTO_TEST_CASE(other_files_are_refused_and_kept) {
    temp_dir dir;
    asio::io_context io;
    const auto file = dir / "config";
    std::ofstream{file} << "keep me\n";
    BOOST_TEST(open_error(io, unix_spec(file)) == "unix:" + file + ": the path exists and is not a socket (not removed)");
    BOOST_TEST(S_ISREG(file_mode(file)));

    const auto sub = dir / "dir";
    BOOST_TEST_REQUIRE(::mkdir(sub.c_str(), 0700) == 0);
    BOOST_TEST(open_error(io, unix_spec(sub)) == "unix:" + sub + ": the path exists and is not a socket (not removed)");

    // A symbolic link, even to a stale socket, is not followed and not removed.
    const auto stale = dir / "stale.sock";
    const int old = raw_unix_socket(stale);
    BOOST_TEST_REQUIRE(old >= 0);
    ::close(old);
    const auto link = dir / "link.sock";
    BOOST_TEST_REQUIRE(::symlink(stale.c_str(), link.c_str()) == 0);
    BOOST_TEST(open_error(io, unix_spec(link)) == "unix:" + link + ": the path exists and is not a socket (not removed)");
    BOOST_TEST(exists(link));
    BOOST_TEST(S_ISSOCK(file_mode(stale)));

    BOOST_TEST(open_error(io, unix_spec(dir / "missing/milter.sock")) ==
               "unix:" + dir.path + "/missing/milter.sock: cannot bind: No such file or directory");
}

BOOST_AUTO_TEST_CASE(a_file_that_is_no_longer_ours_is_kept) {
    temp_dir dir;
    const auto path = dir / "milter.sock";
    asio::io_context io;
    std::optional<srv::listener> old{srv::open_listener(io, unix_spec(path))};
    // Someone removes our file and another listener takes the path.
    BOOST_TEST_REQUIRE(::unlink(path.c_str()) == 0);
    auto now = srv::open_listener(io, unix_spec(path));
    old.reset();
    BOOST_TEST(S_ISSOCK(file_mode(path)));
    BOOST_TEST(connect_and_accept<asio::local::stream_protocol>(io, now, {path}).has_value());

    // Or a regular file takes its place.
    now.close();
    std::optional<srv::listener> third{srv::open_listener(io, unix_spec(path))};
    BOOST_TEST_REQUIRE(::unlink(path.c_str()) == 0);
    std::ofstream{path} << "not yours\n";
    third.reset();
    BOOST_TEST(S_ISREG(file_mode(path)));
}

BOOST_AUTO_TEST_CASE(the_file_appears_only_when_it_accepts) {
    // A client that connects as soon as the file exists must never be refused: bind() creates
    // the file before listen(), so the file must appear by rename, ready. 200 rounds or 5 s.
    temp_dir dir;
    const auto path = dir / "milter.sock";
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    asio::io_context io;
    int rounds = 0, connected = 0, refused = 0;
    for (const auto deadline = std::chrono::steady_clock::now() + 5s;
         rounds < 200 && std::chrono::steady_clock::now() < deadline; ++rounds) {
        std::atomic<bool> spinning{false}, finished{false}, give_up{false};
        std::atomic<int> connect_error{0};
        std::thread client{[&] {
            const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            spinning = true;
            while (!give_up) {
                if (::connect(fd, reinterpret_cast<const sockaddr*>(&sun), sizeof sun) == 0) break;
                if (errno != ENOENT) { // ENOENT: no file yet
                    connect_error = errno;
                    break;
                }
            }
            ::close(fd);
            finished = true;
        }};
        while (!spinning) std::this_thread::yield();
        {
            auto l = srv::open_listener(io, unix_spec(path));
            const auto round_deadline = std::chrono::steady_clock::now() + bound;
            while (!finished && std::chrono::steady_clock::now() < round_deadline) std::this_thread::yield();
            give_up = true;
            client.join();
        }
        if (connect_error == 0) ++connected;
        else if (connect_error == ECONNREFUSED) ++refused;
        else BOOST_TEST(connect_error == 0, "connect: " << std::strerror(connect_error));
    }
    BOOST_TEST_MESSAGE(rounds << " rounds");
    BOOST_TEST(refused == 0, refused << " of " << rounds << " connects found the file but were refused");
    BOOST_TEST(connected == rounds);
}

BOOST_AUTO_TEST_CASE(coroutine_accept) {
    temp_dir dir;
    const auto path = dir / "milter.sock";
    asio::io_context io;
    auto l = srv::open_listener(io, unix_spec(path));
    asio::local::stream_protocol::socket client{io};
    bool accepted = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto s = co_await l.async_accept(asio::use_awaitable);
            BOOST_TEST(s.is_open());
            accepted = true;
        },
        asio::detached);
    client.async_connect({path}, [](error_code) {});
    io.run_for(bound);
    BOOST_TEST(accepted);
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================

BOOST_AUTO_TEST_SUITE(socket_activation)

BOOST_AUTO_TEST_CASE(one_tcp_socket_at_fd_3) {
    const int rc = in_child([] {
        const int s = raw_tcp_socket();
        CHILD_CHECK(s >= 0);
        const auto port = bound_port(s);
        CHILD_CHECK(place_at_3({s}));
        CHILD_CHECK(!cloexec(3));
        set_activation_env(std::to_string(::getpid()), "1");

        asio::io_context io;
        auto ls = srv::inherited_listeners(io);
        CHILD_CHECK(ls.size() == 1);
        CHILD_CHECK(activation_env_gone());
        CHILD_CHECK(ls[0].native_handle() == 3);
        CHILD_CHECK(ls[0].family() == AF_INET);
        CHILD_CHECK_TEXT(ls[0].local_endpoint_string(), "inet:127.0.0.1:" + std::to_string(port));
        CHILD_CHECK(cloexec(3));

        asio::ip::tcp::socket client{io};
        bool accepted = false;
        int nodelay = -1;
        ls[0].async_accept([&](error_code ec, srv::listener::socket_type a) {
            accepted = !ec;
            if (!ec) nodelay = int_option(a.native_handle(), IPPROTO_TCP, TCP_NODELAY);
        });
        client.async_connect({asio::ip::make_address("127.0.0.1"), port}, [](error_code) {});
        io.run_for(bound);
        CHILD_CHECK(accepted);
        CHILD_CHECK(nodelay == 1);
        ls.clear();
        CHILD_CHECK(!fd_open(3)); // the listener owned it
        return 0;
    });
    BOOST_TEST(rc == 0);
}

BOOST_AUTO_TEST_CASE(unix_and_tcp_sockets_in_order) {
    temp_dir dir;
    const auto path = dir / "activated.sock";
    const int rc = in_child([&] {
        const int u = raw_unix_socket(path);
        const int t = raw_tcp_socket();
        CHILD_CHECK(u >= 0 && t >= 0);
        const auto port = bound_port(t);
        CHILD_CHECK(place_at_3({u, t}));
        set_activation_env(std::to_string(::getpid()), "2");

        asio::io_context io;
        auto ls = srv::inherited_listeners(io);
        CHILD_CHECK(ls.size() == 2);
        CHILD_CHECK(activation_env_gone());
        CHILD_CHECK(ls[0].family() == AF_UNIX);
        CHILD_CHECK_TEXT(ls[0].local_endpoint_string(), "unix:" + path);
        CHILD_CHECK(ls[1].family() == AF_INET);
        CHILD_CHECK_TEXT(ls[1].local_endpoint_string(), "inet:127.0.0.1:" + std::to_string(port));
        CHILD_CHECK(cloexec(3) && cloexec(4));

        asio::local::stream_protocol::socket client{io};
        bool accepted = false;
        ls[0].async_accept([&](error_code ec, srv::listener::socket_type) { accepted = !ec; });
        client.async_connect({path}, [](error_code) {});
        io.run_for(bound);
        CHILD_CHECK(accepted);
        ls.clear();
        CHILD_CHECK(exists(path)); // systemd's socket file: not ours to remove
        return 0;
    });
    BOOST_TEST(rc == 0);
}

BOOST_AUTO_TEST_CASE(for_another_process_or_not_activated) {
    const int rc = in_child([] {
        const int s = raw_tcp_socket();
        CHILD_CHECK(s >= 0 && place_at_3({s}));
        asio::io_context io;

        set_activation_env(std::to_string(::getppid()), "1"); // our parent's sockets, not ours
        CHILD_CHECK(srv::inherited_listeners(io).empty());
        CHILD_CHECK(activation_env_gone());
        CHILD_CHECK(fd_open(3) && !cloexec(3)); // untouched

        ::setenv("LISTEN_FDS", "1", 1); // no LISTEN_PID: not activated
        CHILD_CHECK(srv::inherited_listeners(io).empty());
        CHILD_CHECK(activation_env_gone());

        set_activation_env(std::to_string(::getpid()), "0");
        CHILD_CHECK(srv::inherited_listeners(io).empty());
        CHILD_CHECK(activation_env_gone());
        return 0;
    });
    BOOST_TEST(rc == 0);
}

BOOST_AUTO_TEST_CASE(bad_inherited_sockets) {
    const int rc = in_child([] {
        asio::io_context io;
        const std::string me = std::to_string(::getpid());

        set_activation_env(me, "abc");
        CHILD_CHECK_TEXT(inherited_error(io), "LISTEN_FDS='abc' is not a number of sockets");
        CHILD_CHECK(activation_env_gone());
        set_activation_env("12x", "1");
        CHILD_CHECK_TEXT(inherited_error(io), "LISTEN_PID='12x' is not a process id");
        CHILD_CHECK(activation_env_gone());

        const int unlistened = raw_tcp_socket(false);
        CHILD_CHECK(unlistened >= 0 && place_at_3({unlistened}));
        set_activation_env(me, "1");
        CHILD_CHECK_TEXT(inherited_error(io), "LISTEN_FDS fd 3: not a listening socket");
        CHILD_CHECK(activation_env_gone());
        CHILD_CHECK(fd_open(3)); // not taken over, not closed

        const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
        CHILD_CHECK(udp >= 0 && place_at_3({udp}));
        set_activation_env(me, "1");
        CHILD_CHECK_TEXT(inherited_error(io), "LISTEN_FDS fd 3: not a stream socket");

        int pipe_fds[2];
        CHILD_CHECK(::pipe(pipe_fds) == 0 && place_at_3({pipe_fds[0]}));
        set_activation_env(me, "1");
        CHILD_CHECK_TEXT(inherited_error(io), "LISTEN_FDS fd 3: not a socket");

        // One bad socket among good ones: none is taken over.
        const int good = raw_tcp_socket();
        const int bad = raw_tcp_socket(false);
        CHILD_CHECK(good >= 0 && bad >= 0 && place_at_3({good, bad}));
        set_activation_env(me, "2");
        CHILD_CHECK_TEXT(inherited_error(io), "LISTEN_FDS fd 4: not a listening socket");
        CHILD_CHECK(fd_open(3) && !cloexec(3));
        return 0;
    });
    BOOST_TEST(rc == 0);
}

BOOST_AUTO_TEST_CASE(fd_spec) {
    asio::io_context io;
    const int s = raw_tcp_socket();
    BOOST_TEST_REQUIRE(s >= 0);
    const auto port = bound_port(s);
    {
        auto l = srv::open_listener(io, spec("fd:" + std::to_string(s)));
        BOOST_TEST(l.native_handle() == s);
        BOOST_TEST(l.local_endpoint_string() == "inet:127.0.0.1:" + std::to_string(port));
        BOOST_TEST(cloexec(s));
        auto a = connect_and_accept<asio::ip::tcp>(io, l, {asio::ip::make_address("127.0.0.1"), port});
        BOOST_TEST_REQUIRE(a.has_value());
        BOOST_TEST(int_option(a->native_handle(), IPPROTO_TCP, TCP_NODELAY) == 1);
    }
    BOOST_TEST(!fd_open(s)); // owned by the listener

    // Failures leave the descriptor to its owner.
    int pipe_fds[2];
    BOOST_TEST_REQUIRE(::pipe(pipe_fds) == 0);
    const auto p = std::to_string(pipe_fds[0]);
    BOOST_TEST(open_error(io, spec("fd:" + p)) == "fd:" + p + ": not a socket");
    BOOST_TEST(fd_open(pipe_fds[0]));

    const int unlistened = raw_tcp_socket(false);
    BOOST_TEST_REQUIRE(unlistened >= 0);
    const auto u = std::to_string(unlistened);
    BOOST_TEST(open_error(io, spec("fd:" + u)) == "fd:" + u + ": not a listening socket");
    BOOST_TEST(fd_open(unlistened));

    ::close(pipe_fds[1]); // now a closed descriptor number
    const auto closed = std::to_string(pipe_fds[1]);
    BOOST_TEST(open_error(io, spec("fd:" + closed)) == "fd:" + closed + ": not a usable socket: Bad file descriptor");
    ::close(pipe_fds[0]);
    ::close(unlistened);
}

BOOST_AUTO_TEST_SUITE_END()
