// cppmilter::redis: the RESP2 codec byte by byte; the client against a real redis-server
// (commands, pipelining, scripts, AUTH/SELECT, UNIX sockets, restarts); and against a fake
// server that sends garbage, oversized replies, nothing, or half a reply.
#define BOOST_TEST_MODULE cppmilter redis client
#include "redis_server.hpp"

#include <cppmilter/contrib/redis.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace redis = cppmilter::redis;
using namespace std::chrono_literals;
using status = redis::parse_result::status;

namespace {

/// Runs `body` to completion on a fresh io_context; rethrows what it threw.
template <class T>
T run(std::function<asio::awaitable<T>()> body) {
    asio::io_context io{1};
    std::optional<T> out;
    std::exception_ptr failure;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await body(); },
                   [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) std::rethrow_exception(failure);
    return std::move(*out);
}

std::string show(const redis::reply& r) {
    std::ostringstream os;
    os << r;
    return os.str();
}

/// What a command that must fail threw: its code and text.
struct failure {
    redis::errc code;
    std::string text;
};
failure failure_of(const redis::client& c, std::vector<std::string> args, asio::io_context& io) {
    std::optional<failure> out;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        try {
            const auto r = co_await c.command(args);
            BOOST_FAIL("expected a failure, got " << show(r).substr(0, 200));
        } catch (const redis::error& e) {
            out = failure{e.code(), e.what()};
        }
    }, asio::detached);
    io.run();
    io.restart();
    BOOST_TEST_REQUIRE(out.has_value());
    return *out;
}

redis::reply reply_of(const redis::client& c, std::vector<std::string> args, asio::io_context& io) {
    std::optional<redis::reply> out;
    std::exception_ptr e;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await c.command(args); }, [&](std::exception_ptr x) { e = x; });
    io.run();
    io.restart();
    if (e) std::rethrow_exception(e);
    return *out;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t{co_await asio::this_coro::executor, d};
    co_await t.async_wait(asio::use_awaitable);
}

redis::options at(const std::string& spec, std::chrono::milliseconds timeout = 2s) {
    redis::options o;
    o.server = spec;
    o.timeout = timeout;
    return o;
}

/// An in-process server on 127.0.0.1 whose every connection is handled by `behaviour` (it
/// gets the socket after the first command's bytes came); its own thread and io_context.
class fake_server {
public:
    using behaviour = std::function<asio::awaitable<void>(asio::ip::tcp::socket&)>;
    explicit fake_server(behaviour b) : acceptor_{io_, {asio::ip::make_address("127.0.0.1"), 0}}, behaviour_{std::move(b)} {
        asio::co_spawn(io_, accept(), asio::detached);
        thread_ = std::thread{[this] { io_.run(); }};
    }
    ~fake_server() {
        io_.stop();
        thread_.join();
    }
    std::string spec() const { return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
    int connections() const { return connections_; }

private:
    asio::awaitable<void> accept() {
        for (;;) {
            auto socket = std::make_shared<asio::ip::tcp::socket>(co_await acceptor_.async_accept(asio::use_awaitable));
            ++connections_;
            asio::co_spawn(io_, [this, socket]() -> asio::awaitable<void> {
                char chunk[4096];
                co_await socket->async_read_some(asio::buffer(chunk), asio::use_awaitable);
                co_await behaviour_(*socket);
                // Hold the connection open until the client closes it.
                for (;;) co_await socket->async_read_some(asio::buffer(chunk), asio::use_awaitable);
            }, asio::detached);
        }
    }
    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    behaviour behaviour_;
    std::atomic<int> connections_{0};
    std::thread thread_;
};

fake_server::behaviour sends(std::string bytes, bool then_close = false) {
    return [bytes, then_close](asio::ip::tcp::socket& s) -> asio::awaitable<void> {
        co_await asio::async_write(s, asio::buffer(bytes), asio::use_awaitable);
        if (then_close) s.close();
    };
}

} // namespace

// ---- The codec ------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(redis_codec)

BOOST_AUTO_TEST_CASE(commands_are_arrays_of_binary_safe_bulk_strings) {
    std::string out;
    const std::string value{"a\r\nb\0c", 6};
    const std::array<std::string_view, 3> args{"SET", "k", value};
    redis::encode_command(out, args);
    BOOST_TEST(out == std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\na\r\nb\0c\r\n", 32));
}

BOOST_AUTO_TEST_CASE(every_reply_type_split_at_every_byte) {
    // Several replies back to back, as a pipelined connection receives them.
    const std::string bin{"x\r\n\0y", 5};
    const std::string wire = std::string{"+OK\r\n-ERR wrong\r\n:-42\r\n$5\r\n"} + bin +
                             "\r\n$-1\r\n*-1\r\n*3\r\n:1\r\n*2\r\n$1\r\na\r\n$0\r\n\r\n*0\r\n";
    const std::vector<std::string> expected{"OK", "(error) ERR wrong", "(integer) -42", "\"" + bin + "\"", "(nil)", "(nil)",
                                            "[(integer) 1, [\"a\", \"\"], []]"};
    std::size_t at = 0;
    for (const auto& want : expected) {
        const std::string_view rest = std::string_view{wire}.substr(at);
        const auto full = redis::parse_reply(rest, 1 << 20);
        BOOST_TEST_REQUIRE((full.state == status::complete));
        BOOST_TEST(show(full.value) == want);
        for (std::size_t cut = 0; cut < full.consumed; ++cut)
            BOOST_TEST((redis::parse_reply(rest.substr(0, cut), 1 << 20).state == status::incomplete), want << " cut at " << cut);
        at += full.consumed;
    }
    BOOST_TEST(at == wire.size());
}

BOOST_AUTO_TEST_CASE(malformed_replies_say_what_is_wrong) {
    auto error_of = [](std::string_view bytes, std::size_t max = 1 << 20) {
        const auto r = redis::parse_reply(bytes, max);
        BOOST_TEST((r.state == status::malformed), bytes);
        return r.error;
    };
    BOOST_TEST(error_of("hello\r\n") == "byte 0x68 where a reply starts");
    BOOST_TEST(error_of("\xff") == "byte 0xff where a reply starts");
    BOOST_TEST(error_of(":12a\r\n") == "'12a' is not a number");
    BOOST_TEST(error_of(":\r\n") == "'' is not a number");
    BOOST_TEST(error_of("$-2\r\n") == "bulk string length -2");
    BOOST_TEST(error_of("$3\r\nabcX\r\n") == "bulk string not followed by CRLF");
    BOOST_TEST(error_of("+a\nb\r\n") == "a bare CR or LF inside a reply line");
    BOOST_TEST(error_of("*-5\r\n") == "array length -5");
    // Over the cap: said at once from the declared length, or once the buffer is over it.
    BOOST_TEST(error_of("$2000000\r\n") == "bulk string of 2000000 bytes: reply over 1048576 bytes");
    BOOST_TEST(error_of("*1000000\r\n", 1000) == "array of 1000000 elements: reply over 1000 bytes");
    BOOST_TEST(error_of("+" + std::string(200, 'a'), 100) == "reply over 100 bytes");
    BOOST_TEST(error_of("*2\r\n$60\r\n" + std::string(60, 'a') + "\r\n$60\r\n" + std::string(60, 'b') + "\r\n", 100) ==
               "reply over 100 bytes");
    std::string deep;
    for (int i = 0; i < 40; ++i) deep += "*1\r\n";
    BOOST_TEST(error_of(deep + ":1\r\n") == "arrays nested deeper than 32");
}

BOOST_AUTO_TEST_CASE(endpoints) {
    BOOST_TEST(redis::to_string(redis::parse_endpoint("127.0.0.1:6379")) == "127.0.0.1:6379");
    BOOST_TEST(redis::to_string(redis::parse_endpoint("inet:6380@127.0.0.1")) == "127.0.0.1:6380");
    BOOST_TEST(redis::to_string(redis::parse_endpoint("inet:localhost:6381")) == "127.0.0.1:6381");
    BOOST_TEST(redis::to_string(redis::parse_endpoint("inet6:[::1]:6379")) == "[::1]:6379");
    BOOST_TEST(redis::to_string(redis::parse_endpoint("unix:/run/redis/redis.sock")) == "unix:/run/redis/redis.sock");
    BOOST_CHECK_THROW(redis::parse_endpoint("redis.example:6379"), std::invalid_argument);
    BOOST_CHECK_THROW(redis::parse_endpoint("127.0.0.1:0"), std::invalid_argument);
    BOOST_CHECK_THROW(redis::parse_endpoint("fd:3"), std::invalid_argument);
    BOOST_CHECK_THROW(redis::client(at("127.0.0.1:99999")), std::invalid_argument);
    redis::options o = at("127.0.0.1:6379");
    o.user = "alice"; // a user without a password
    BOOST_CHECK_THROW(redis::client{o}, std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- A real redis-server --------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(redis_live)

BOOST_AUTO_TEST_CASE(replies_of_every_type) {
    test_redis::server server;
    const redis::client c{at(server.spec())};
    const std::string bin{"a\r\n\0b", 5};
    const auto results = run<std::vector<std::string>>([&]() -> asio::awaitable<std::vector<std::string>> {
        std::vector<std::string> out;
        out.push_back(show(co_await c.command("SET", "k", bin)));
        out.push_back(show(co_await c.command("GET", "k")));
        out.push_back(show(co_await c.command("GET", "missing")));
        out.push_back(show(co_await c.command("INCRBY", "n", "-7")));
        out.push_back(show(co_await c.command("LPUSH", "k", "x")));
        const std::vector<std::string> lrange{"LRANGE", "list", "0", "-1"};
        co_await c.command("RPUSH", "list", "1", "2");
        out.push_back(show(co_await c.command(lrange)));
        co_return out;
    });
    BOOST_TEST(results.at(0) == "OK");
    BOOST_TEST(results.at(1) == "\"" + bin + "\"");
    BOOST_TEST(results.at(2) == "(nil)");
    BOOST_TEST(results.at(3) == "(integer) -7");
    BOOST_TEST(results.at(4).starts_with("(error) WRONGTYPE"));
    BOOST_TEST(results.at(5) == "[\"1\", \"2\"]");
}

BOOST_AUTO_TEST_CASE(commands_of_many_coroutines_share_one_pipelined_connection) {
    test_redis::server server;
    const redis::client c{at(server.spec())};
    asio::io_context io{1};
    std::vector<std::int64_t> counts;
    std::set<std::int64_t> client_ids;
    for (int i = 0; i < 200; ++i)
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            counts.push_back((co_await c.command("INCR", "counter")).integer);
            client_ids.insert((co_await c.command("CLIENT", "ID")).integer);
        }, asio::detached);
    io.run();
    io.restart();
    BOOST_TEST(counts.size() == 200u);
    BOOST_TEST(std::set<std::int64_t>(counts.begin(), counts.end()).size() == 200u); // each INCR got its own reply
    BOOST_TEST(client_ids.size() == 1u);
    // Another io_context (another server thread) has a connection of its own.
    BOOST_TEST(reply_of(c, {"CLIENT", "ID"}, io).integer == *client_ids.begin());
    asio::io_context other{1};
    BOOST_TEST(reply_of(c, {"CLIENT", "ID"}, other).integer != *client_ids.begin());
}

BOOST_AUTO_TEST_CASE(scripts_run_by_sha_and_again_by_text_after_a_flush) {
    test_redis::server server;
    const redis::client c{at(server.spec())};
    static const redis::script add{"return {redis.call('INCRBY', KEYS[1], ARGV[1]), {ARGV[2]}}"};
    asio::io_context io{1};
    auto eval = [&] {
        std::optional<redis::reply> r;
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            std::vector<std::string> keys{"k"}, args{"5", "x"};
            r = co_await c.eval(add, std::move(keys), std::move(args));
        }, asio::detached);
        io.run();
        io.restart();
        return show(r.value());
    };
    BOOST_TEST(eval() == "[(integer) 5, [\"x\"]]");
    BOOST_TEST(eval() == "[(integer) 10, [\"x\"]]");
    BOOST_TEST(server({"SCRIPT", "FLUSH"}).text == "OK"); // as after a restart: NOSCRIPT, then EVAL
    BOOST_TEST(eval() == "[(integer) 15, [\"x\"]]");
    BOOST_TEST(show(server({"SCRIPT", "EXISTS", reply_of(c, {"SCRIPT", "LOAD", add.text()}, io).text})) == "[(integer) 1]");
}

BOOST_AUTO_TEST_CASE(auth_and_select) {
    test_redis::server server{{"--requirepass", "s3cret"}};
    redis::options o = at(server.spec());
    o.password = "s3cret";
    o.database = 3;
    asio::io_context io{1};
    BOOST_TEST(reply_of(redis::client{o}, {"SET", "where", "db3"}, io).text == "OK");
    BOOST_TEST(server({"SELECT", "3"}).text == "OK");
    BOOST_TEST(test_redis::query("127.0.0.1", server.port(), {"GET", "where"}).is_error()); // NOAUTH
    o.user = "default"; // AUTH user password (Redis 6 ACL)
    o.database = 0;
    BOOST_TEST(reply_of(redis::client{o}, {"PING"}, io).text == "PONG");
    o.user.clear();
    o.password = "wrong";
    const auto f = failure_of(redis::client{o}, {"PING"}, io);
    BOOST_TEST((f.code == redis::errc::connect_failed));
    BOOST_TEST(f.text.find("refused AUTH or SELECT: WRONGPASS") != std::string::npos, f.text);
}

BOOST_AUTO_TEST_CASE(unix_socket) {
    test_redis::server server;
    asio::io_context io{1};
    BOOST_TEST(reply_of(redis::client{at("unix:" + server.unix_path())}, {"PING"}, io).text == "PONG");
}

BOOST_AUTO_TEST_CASE(a_cancelled_command_leaves_the_connection_in_step) {
    test_redis::server server;
    const redis::client c{at(server.spec())};
    asio::io_context io{1};
    std::optional<redis::errc> code;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        // BLPOP answers (nil) after 0.3 s; the timer wins at 50 ms and cancels the command.
        auto blpop = [&]() -> asio::awaitable<void> {
            try {
                co_await c.command("BLPOP", "nothing", "0.3");
            } catch (const redis::error& e) {
                code = e.code();
                throw;
            }
        };
        co_await (blpop() || sleep_for(50ms));
    }, asio::detached);
    io.run();
    io.restart();
    BOOST_TEST_REQUIRE(code.has_value());
    BOOST_TEST((*code == redis::errc::cancelled));
    // The next command gets its own reply, not BLPOP's (nil), which is read and dropped.
    BOOST_TEST(reply_of(c, {"ECHO", "after"}, io).text == "after");
}

BOOST_AUTO_TEST_CASE(a_restarted_server_is_found_again) {
    test_redis::server server;
    redis::options o = at(server.spec(), 500ms);
    o.backoff_min = 50ms;
    o.backoff_max = 200ms;
    const redis::client c{o};
    asio::io_context io{1};
    BOOST_TEST(reply_of(c, {"SET", "k", "1"}, io).text == "OK");

    // Closed by the server while idle: noticed before the next command, reopened quietly.
    BOOST_TEST(server({"CLIENT", "KILL", "TYPE", "normal"}).integer == 1);
    BOOST_TEST(reply_of(c, {"GET", "k"}, io).text == "1");

    server.stop();
    const auto lost = failure_of(c, {"GET", "k"}, io);
    BOOST_TEST((lost.code == redis::errc::connect_failed), lost.text); // it was closed: seen while idle
    BOOST_TEST(lost.text.find("cannot connect") != std::string::npos, lost.text);
    const auto waiting = failure_of(c, {"GET", "k"}, io); // at once, within the backoff
    BOOST_TEST((waiting.code == redis::errc::unavailable), waiting.text);
    BOOST_TEST(waiting.text.find("next attempt in") != std::string::npos, waiting.text);

    server.start();
    std::optional<redis::reply> back;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        for (int attempt = 0; attempt < 200 && !back; ++attempt) {
            bool failed = false;
            try {
                back = co_await c.command("PING");
            } catch (const redis::error&) {
                failed = true; // unavailable until the backoff has passed
            }
            if (failed) co_await sleep_for(50ms);
        }
    }, asio::detached);
    io.run();
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST(back->text == "PONG");
}

BOOST_AUTO_TEST_SUITE_END()

// ---- A fake server that misbehaves ----------------------------------------------------------

BOOST_AUTO_TEST_SUITE(redis_faults)

BOOST_AUTO_TEST_CASE(garbage_resets_the_connection) {
    fake_server fake{sends("hello\r\n")};
    const redis::client c{at(fake.spec())};
    asio::io_context io{1};
    const auto f = failure_of(c, {"PING"}, io);
    BOOST_TEST((f.code == redis::errc::protocol));
    BOOST_TEST(f.text == "redis " + fake.spec() + ": bad reply: byte 0x68 where a reply starts");
}

BOOST_AUTO_TEST_CASE(an_oversized_reply_resets_the_connection) {
    fake_server fake{sends("$2000000\r\nabc")};
    const redis::client c{at(fake.spec())};
    asio::io_context io{1};
    const auto f = failure_of(c, {"GET", "big"}, io);
    BOOST_TEST((f.code == redis::errc::protocol));
    BOOST_TEST(f.text.ends_with("bulk string of 2000000 bytes: reply over 1048576 bytes"), f.text);
    // The same cap for a reply that only grows: many small elements.
    std::string many = "*300000\r\n"; // 1.2 MB, under the element count a 1 MiB reply can hold
    for (int i = 0; i < 300000; ++i) many += ":1\r\n";
    fake_server growing{sends(many)};
    const auto g = failure_of(redis::client{at(growing.spec())}, {"LRANGE", "x", "0", "-1"}, io);
    BOOST_TEST((g.code == redis::errc::protocol));
    BOOST_TEST(g.text.ends_with("reply over 1048576 bytes"), g.text);
}

BOOST_AUTO_TEST_CASE(no_answer_times_out_and_the_next_command_waits_for_the_backoff) {
    fake_server fake{[](asio::ip::tcp::socket&) -> asio::awaitable<void> { co_return; }};
    redis::options o = at(fake.spec(), 100ms);
    o.backoff_min = 10s; // long enough that the second command surely falls inside it
    o.backoff_max = 10s;
    const redis::client c{o};
    asio::io_context io{1};
    // Two commands in flight: the first times out, the one behind it is reset with it.
    std::vector<std::string> texts;
    std::vector<redis::errc> codes;
    for (int i = 0; i < 2; ++i)
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            try {
                co_await c.command("PING");
            } catch (const redis::error& e) {
                codes.push_back(e.code());
                texts.push_back(e.what());
            }
        }, asio::detached);
    io.run();
    io.restart();
    BOOST_TEST_REQUIRE(codes.size() == 2u);
    BOOST_TEST((codes[0] == redis::errc::timeout));
    BOOST_TEST(texts[0] == "redis " + fake.spec() + ": no reply within 100 ms");
    BOOST_TEST((codes[1] == redis::errc::connection_lost));
    BOOST_TEST(texts[1] == "redis " + fake.spec() + ": connection reset: a command got no reply within 100 ms");
    const auto f = failure_of(c, {"PING"}, io);
    BOOST_TEST((f.code == redis::errc::unavailable));
    BOOST_TEST(f.text.starts_with("redis " + fake.spec() + " unavailable (connection reset: a command got no reply within 100 ms); next attempt in "),
               f.text);
    BOOST_TEST(fake.connections() == 1); // no attempt within the backoff
}

BOOST_AUTO_TEST_CASE(a_connection_closed_mid_reply) {
    fake_server fake{sends("$10\r\nabc", true)};
    const redis::client c{at(fake.spec())};
    asio::io_context io{1};
    const auto f = failure_of(c, {"GET", "k"}, io);
    BOOST_TEST((f.code == redis::errc::connection_lost));
    BOOST_TEST(f.text == "redis " + fake.spec() + ": connection closed by the server");
}

BOOST_AUTO_TEST_CASE(nothing_listening) {
    const redis::client c{at("127.0.0.1:" + std::to_string(test_redis::free_port()))};
    asio::io_context io{1};
    const auto f = failure_of(c, {"PING"}, io);
    BOOST_TEST((f.code == redis::errc::connect_failed));
    BOOST_TEST(f.text.ends_with("cannot connect: Connection refused"), f.text);
}

BOOST_AUTO_TEST_SUITE_END()
