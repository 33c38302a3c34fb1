// An asynchronous Redis client on the caller's executor: RESP2 over Boost.Asio, pipelined.
//
//     namespace redis = cppmilter::redis;
//     redis::client db{{.server = "127.0.0.1:6379", .timeout = 200ms}};   // shared by all threads
//     redis::reply n = co_await db.command("INCR", "counter");             // in any coroutine
//     static const redis::script add{"return redis.call('INCRBY', KEYS[1], ARGV[1])"};
//     std::vector<std::string> keys{"counter"}, args{"5"};
//     redis::reply r = co_await db.eval(add, keys, args);                 // EVALSHA, EVAL on NOSCRIPT
//
// Why our own: Boost 1.81 has no Boost.Redis (1.84+), and Debian 12's hiredis is 0.14, whose
// asynchronous API has no Asio adapter (it would need one written against its event hooks,
// plus our own timeouts and reconnection). RESP2 is small: a parser of five reply types and
// an encoder of arrays of bulk strings, kept sans-I/O (parse_reply, encode_command) and
// tested byte by byte; the Asio part only writes, reads and keeps time.
//
// One connection per execution context: the first command awaited on an io_context opens a
// connection that every later command on that io_context shares (pipelined: commands are
// written as they come, replies matched to them in order). The connections live in an
// io_context service, so they are created and destroyed with the io_context itself (not with
// a thread: a test's io_context that is destroyed takes its socket along, and a thread that
// runs several io_contexts keeps them apart) and need no lock, since the server runs each
// io_context on one thread. An io_context run by several threads at once is not supported.
//
// Faults: every command has a deadline (`options::timeout`). A command without a reply by
// then, a reply that is malformed or over `max_reply` bytes, a connection the server closed:
// the connection is reset, every command waiting on it fails with a redis::error that says
// why, and a new connection is tried after a backoff (100 ms, doubling to 2 s); until then
// commands fail at once with errc::unavailable, so a dead Redis costs nothing per message.
// Nothing runs while nothing is asked: no background timer or read is pending on an idle
// connection (an io_context with no other work returns from run()), and a connection the
// server closed while idle is noticed before the next command and reopened quietly.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace cppmilter::redis {

/// One RESP2 reply.
struct reply {
    enum class kind {
        simple_string, ///< +OK
        error,         ///< -ERR ... (text holds "ERR ...")
        integer,       ///< :42
        bulk_string,   ///< $3 abc (binary safe)
        null,          ///< $-1 or *-1
        array,         ///< *2 ... (elements, nested)
    };
    kind type = kind::null;
    std::string text;            ///< simple string, error, bulk string
    std::int64_t integer = 0;    ///< integer
    std::vector<reply> elements; ///< array

    bool is_error() const noexcept { return type == kind::error; }
    bool is_null() const noexcept { return type == kind::null; }
    friend bool operator==(const reply&, const reply&) = default;
};

/// As redis-cli would show it, on one line: OK, (error) ERR x, (integer) 1, "abc", (nil), [a, b].
std::ostream& operator<<(std::ostream& os, const reply& r);

/// Why a command got no reply.
enum class errc {
    unavailable,     ///< not tried: the connection failed recently and waits for its backoff
    connect_failed,  ///< the connection could not be opened (or AUTH/SELECT was refused)
    timeout,         ///< no reply within options::timeout (the connection is reset)
    connection_lost, ///< the server closed the connection, or reading/writing failed
    protocol,        ///< a malformed or oversized reply (the connection is reset)
    cancelled,       ///< the awaiting coroutine was cancelled (e.g. by the hook timeout)
};

/// A command that got no reply; what() is one line naming the server and the reason.
class error : public std::runtime_error {
public:
    error(errc code, const std::string& message) : std::runtime_error{message}, code_{code} {}
    errc code() const noexcept { return code_; }

private:
    errc code_;
};

/// Where the server is: `HOST:PORT`, `inet:HOST:PORT`, `inet:PORT@HOST`, `inet6:[HOST]:PORT`,
/// `unix:/path` (or `/path`). HOST is numeric or `localhost`: host names are not resolved (a
/// static binary must not load NSS modules).
struct endpoint {
    bool local = false; ///< a UNIX socket at `path`; else TCP to host:port
    bool ipv6 = false;
    std::string host;
    std::uint16_t port = 0;
    std::string path;
};
/// Throws std::invalid_argument with a one-line reason.
endpoint parse_endpoint(std::string_view text);
/// "127.0.0.1:6379", "[::1]:6379", "unix:/run/redis.sock".
std::string to_string(const endpoint& e);

struct options {
    std::string server = "127.0.0.1:6379"; ///< parsed by parse_endpoint
    std::string user;                      ///< AUTH user password (Redis 6 ACL); empty: AUTH password
    std::string password;                  ///< empty: no AUTH
    int database = 0;                      ///< SELECT, when not 0
    std::chrono::milliseconds timeout{200};     ///< per command, connecting included
    std::chrono::milliseconds backoff_min{100}; ///< first wait after a failure
    std::chrono::milliseconds backoff_max{2000};///< doubling stops here
    std::size_t max_reply = 1 << 20;            ///< a larger reply resets the connection
};

/// The parser's answer for the start of a buffer.
struct parse_result {
    enum class status { complete, incomplete, malformed } state = status::incomplete;
    reply value;               ///< when complete
    std::size_t consumed = 0;  ///< bytes of the buffer the reply took, when complete
    std::string error;         ///< when malformed: what is wrong ("reply over 1048576 bytes", ...)
};
/// Reads one reply from the start of `buffer` (sans-I/O: the caller feeds what it read).
/// Incomplete when more bytes are needed; malformed when the bytes are no RESP2 reply, or the
/// reply is (or would be) larger than `max_reply` bytes, or nested deeper than 32 arrays.
parse_result parse_reply(std::string_view buffer, std::size_t max_reply);
/// Appends one command, a RESP array of bulk strings (binary safe), to `out`.
void encode_command(std::string& out, std::span<const std::string_view> args);

/// A Lua script sent with EVALSHA; its SHA1 is the server's (SCRIPT LOAD, once per process),
/// and a server that lost it (restart, SCRIPT FLUSH) answers NOSCRIPT, then gets EVAL.
class script {
public:
    explicit script(std::string text) : text_{std::move(text)} {}
    const std::string& text() const noexcept { return text_; }

private:
    friend class client;
    std::string text_;
    mutable std::mutex mutex_;      // guards sha_ while it is written (once)
    mutable std::string sha_;
    mutable std::atomic<bool> known_{false};
};

namespace detail {
struct client_state;
}

/// A handle on one Redis server for the whole process: copy it, share it between threads.
/// Each command runs on the awaiting coroutine's executor, on that execution context's
/// connection (see the top of this file).
class client {
public:
    /// Throws std::invalid_argument if the server spec does not parse or a value is out of range.
    explicit client(options o);

    /// One command: `co_await db.command("SET", key, value)`. The arguments are encoded before
    /// this returns (they need not outlive it). Error replies (-ERR ...) are replies; a command
    /// that gets no reply throws redis::error. (Separate arguments rather than a braced list:
    /// g++ 12 cannot keep an initializer_list in a coroutine frame.)
    template <class... Args>
        requires(sizeof...(Args) > 0 && (std::is_convertible_v<const Args&, std::string_view> && ...))
    boost::asio::awaitable<reply> command(const Args&... args) const {
        const std::array<std::string_view, sizeof...(Args)> views{std::string_view{args}...};
        return command(std::span<const std::string_view>{views});
    }
    boost::asio::awaitable<reply> command(std::span<const std::string_view> args) const;
    boost::asio::awaitable<reply> command(std::span<const std::string> args) const;

    /// Runs `s` with KEYS and ARGV: EVALSHA, or EVAL if the server answers NOSCRIPT.
    /// `s` must outlive the call (scripts are usually static).
    boost::asio::awaitable<reply> eval(const script& s, std::vector<std::string> keys,
                                       std::vector<std::string> args) const;

    const options& settings() const noexcept;
    /// "127.0.0.1:6379": the server, for log lines.
    const std::string& name() const noexcept;

private:
    boost::asio::awaitable<reply> run(std::string encoded) const;
    std::shared_ptr<detail::client_state> state_;
};

} // namespace cppmilter::redis
