// loadgen: plays Postfix against any milter with many concurrent connections, checks every
// reply, and reports messages per second and per-message latency.
//
//     loadgen --milter inet:127.0.0.1:9000 --connections 64 --duration 5s --body-size 1024
//     loadgen --milter unix:/tmp/m.sock --connections 1000 --idle 3s     # open, hold, quit
//
// Each connection negotiates like Postfix 3.x (version 6, every action and protocol bit),
// sends CONNECT and HELO, then messages: MAIL, RCPT, DATA, the headers, EOH, the body in
// BODY chunks of at most 65535 bytes, end of message, ABORT; each event preceded by the MACRO
// packet Postfix sends (values as in tests/data/captures). Negotiated NO* commands are not
// sent and NR* commands are not waited for: commands up to the next one that is answered go
// out in one write, as one TCP segment. Every answer must be CONTINUE; end of message must
// add the header `--expect-header` (default "X-Bench: 1") and continue or accept.
//
// The protocol work is the client library's (client_core: encoding, NO*/NR* rules, the checks
// on the OPTNEG reply and on every reply); this file adds sockets, batching and statistics.
#include <cppmilter/client/answers.hpp>
#include <cppmilter/client/detail/client_core.hpp>
#include <cppmilter/client/detail/endpoint.hpp>
#include <cppmilter/asio/options.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/program_options.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include <sys/resource.h>

namespace {
namespace net = boost::asio;
namespace cl = cppmilter::client;
namespace proto = cppmilter::proto;
using clock_type = std::chrono::steady_clock;
constexpr auto with_error = net::as_tuple(net::use_awaitable);

struct settings {
    std::string milter;
    std::size_t connections = 1;
    std::size_t messages = 0;                        // per connection; 0: until the duration ends
    std::chrono::milliseconds duration{5000};        // the measured window
    std::chrono::milliseconds idle{0};               // > 0: open, CONNECT, HELO, hold this long, QUIT
    std::size_t body_size = 1024;
    std::size_t headers = 5;
    std::size_t recipients = 1;
    std::string expect_name = "X-Bench";
    std::string expect_value = "1";
    std::chrono::milliseconds timeout{30000}; // the whole run ends by window + 2 x timeout
};

/// One piece of a message: the bytes up to and including a command that is answered (or the
/// trailing unanswered ones), and which command that is.
struct segment {
    std::string bytes;
    proto::command_kind answered{}; // meaningful only when expects_answer
    bool expects_answer = false;
};

struct totals {
    std::size_t messages = 0;
    std::size_t connections_done = 0;
    std::size_t errors = 0;
    std::map<std::string, std::size_t> error_kinds;
    std::vector<std::uint32_t> latency_us;
    std::size_t ready = 0;    // connections past negotiation (or failed before)
    std::size_t finished = 0; // connections done or failed
    clock_type::time_point begin{}, end{};
    void error(const std::string& what) {
        ++errors;
        ++error_kinds[what];
    }
};

/// `size` bytes of 80-byte CRLF lines (the last one cut short, still ending in CRLF).
std::string fixed_body(std::size_t size) {
    static constexpr std::string_view line =
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempo\r\n";
    std::string body;
    while (body.size() < size) body.append(line);
    body.resize(size);
    if (size >= 2) body.replace(size - 2, 2, "\r\n");
    return body;
}

/// An MTA connection: client_core's protocol plus a socket and the batching of unanswered
/// commands.
class mta_connection : cl::detail::client_core {
public:
    mta_connection(net::any_io_executor ex, const settings& s)
        : client_core{[&] {
              cl::client_options o;
              o.command_timeout = s.timeout;
              o.content_timeout = s.timeout;
              o.postfix_macros = false; // the MACRO packets below carry Postfix's values
              return o;
          }()},
          socket_{ex}, settings_{s} {}

    net::awaitable<void> connect() {
        const auto where = cl::detail::endpoint_for(settings_.milter);
        auto [ec] = co_await socket_.async_connect(where.endpoint, with_error);
        if (ec) throw cl::client_error{"cannot connect: " + ec.message()};
        if (where.tcp) socket_.set_option(net::ip::tcp::no_delay{true});
    }

    net::awaitable<void> negotiate_and_greet() {
        std::string bytes;
        append_optneg(bytes);
        co_await write(bytes);
        accept_optneg(co_await next_packet());
        segment connect_segment, helo_segment;
        add(connect_segment, 'C', {{"j", "mta.bench.test"}, {"{daemon_name}", "mta.bench.test"},
                                   {"{daemon_addr}", "127.0.0.1"}, {"v", "Postfix 3.7.11"}, {"_", "localhost [127.0.0.1]"}},
            proto::connect{"localhost", proto::address_family::inet, 54321, "127.0.0.1"});
        add(helo_segment, 'H', {}, proto::helo{"client.bench.test"});
        co_await exchange(connect_segment, nullptr);
        co_await exchange(helo_segment, nullptr);
        build_message();
    }

    /// One message; false if an answer was wrong (counted in `t`).
    net::awaitable<bool> message(totals& t) {
        bool good = true;
        for (const auto& seg : message_) good = co_await exchange(seg, &t) && good;
        co_return good;
    }

    net::awaitable<void> quit() {
        std::string bytes;
        append_command(bytes, proto::quit{});
        co_await write(bytes);
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

private:
    /// Appends MACRO + event to `seg` (nothing if the negotiation switched the event off).
    void add(segment& seg, char stage, const macro_list& macros, const proto::command& c) {
        const auto mark = seg.bytes.size();
        append_macros(seg.bytes, stage, macros);
        if (!append_event(seg.bytes, c)) seg.bytes.resize(mark);
        else if (expects_answer(proto::kind_of(c))) {
            seg.expects_answer = true;
            seg.answered = proto::kind_of(c);
        }
    }

    /// The message as segments, each ending with an answered command; ABORT closes it.
    void build_message() {
        const macro_list queue_id{{"i", "4XyZ1bench"}};
        const std::string body = fixed_body(settings_.body_size);
        std::vector<std::pair<std::string, std::string>> headers;
        static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> usual{{
            {"From", "Alice <alice@sender.bench.test>"},
            {"To", "Bob <bob@rcpt.bench.test>"},
            {"Subject", "benchmark message"},
            {"Date", "Wed, 25 Nov 2026 10:00:00 +0000"},
            {"Message-ID", "<bench@sender.bench.test>"},
        }};
        for (std::size_t i = 0; i < settings_.headers; ++i)
            headers.emplace_back(i < usual.size() ? std::pair<std::string, std::string>{usual[i]}
                                                  : std::pair<std::string, std::string>{"X-Filler-" + std::to_string(i),
                                                                                       "value " + std::to_string(i)});
        message_.clear();
        message_.emplace_back();
        auto next = [&] {
            if (message_.back().expects_answer) message_.emplace_back();
            return std::ref(message_.back());
        };
        add(next(), 'M', {{"i", "4XyZ1bench"}, {"{mail_addr}", "alice@sender.bench.test"},
                          {"{mail_host}", "sender.bench.test"}, {"{mail_mailer}", "smtp"}},
            proto::mail{"<alice@sender.bench.test>", proto::string_list{std::string_view{"SIZE=2000\0BODY=8BITMIME\0", 24}}});
        for (std::size_t r = 0; r < settings_.recipients; ++r) {
            const auto address = "rcpt" + std::to_string(r) + "@rcpt.bench.test";
            add(next(), 'R', {{"{rcpt_addr}", address}, {"{rcpt_host}", "rcpt.bench.test"}, {"{rcpt_mailer}", "smtp"}},
                proto::rcpt{"<" + address + ">", proto::string_list{}});
        }
        add(next(), 'T', queue_id, proto::data{});
        for (const auto& [name, value] : headers) add(next(), 'L', queue_id, proto::header{name, value});
        add(next(), 'N', queue_id, proto::end_of_headers{});
        for (std::size_t at = 0; at < body.size(); at += proto::max_body_chunk)
            add(next(), 'B', queue_id, proto::body{std::string_view{body}.substr(at, proto::max_body_chunk)});
        add(next(), 'E', queue_id, proto::end_of_body{});
        append_command(next().get().bytes, proto::abort{});
    }

    /// Sends a segment and checks its answer. With `t` null, a wrong answer throws.
    net::awaitable<bool> exchange(const segment& seg, totals* t) {
        co_await write(seg.bytes);
        if (!seg.expects_answer) co_return true;
        collected_.clear();
        for (;;) {
            const auto p = co_await next_packet();
            const auto step = accept_reply(seg.answered, p, collected_);
            if (step == reply_step::verdict) break;
        }
        std::string problem;
        if (seg.answered == proto::command_kind::end_of_body) problem = check_eom();
        else if (collected_.size() != 5 || collected_[4] != 'c')
            problem = std::string{proto::to_string(seg.answered)} + " not answered CONTINUE: " + cl::answers{collected_}.str();
        if (problem.empty()) co_return true;
        if (!t) throw cl::client_error{problem};
        t->error(problem);
        co_return false;
    }

    /// The header end of message must add (ADDHEADER or INSHEADER); value "*" takes any (a
    /// DKIM signature differs every time).
    bool expected(std::string_view name, std::string_view value) const {
        return name == settings_.expect_name && (settings_.expect_value == "*" || value == settings_.expect_value);
    }

    std::string check_eom() const {
        const cl::answers a{collected_};
        bool stamped = false;
        for (const auto& r : a.replies())
            if (const auto* h = std::get_if<proto::add_header>(&r))
                stamped = stamped || expected(h->name, h->value);
            else if (const auto* i = std::get_if<proto::insert_header>(&r))
                stamped = stamped || expected(i->name, i->value);
        const bool continued = a.last() && (std::holds_alternative<proto::continue_>(*a.last()) ||
                                            std::holds_alternative<proto::accept>(*a.last()));
        if (stamped && continued) return {};
        return "end of message without " + settings_.expect_name + ": " + a.str();
    }

    net::awaitable<void> write(std::string_view bytes) {
        if (bytes.empty()) co_return;
        auto [ec, n] = co_await net::async_write(socket_, net::buffer(bytes.data(), bytes.size()), with_error);
        if (ec) throw cl::client_error{"write failed: " + ec.message()};
    }

    net::awaitable<proto::packet> next_packet() {
        for (;;) {
            if (auto p = buffered_packet()) co_return *p;
            auto room = receive_buffer();
            auto [ec, n] = co_await socket_.async_read_some(net::buffer(room.data(), room.size()), with_error);
            if (ec == net::error::eof) throw cl::client_error{"the milter closed the connection"};
            if (ec) throw cl::client_error{"read failed: " + ec.message()};
            received(n);
        }
    }

    net::generic::stream_protocol::socket socket_;
    const settings& settings_;
    std::vector<segment> message_;
    std::string collected_;
};

/// Every connection: connect, negotiate, wait for all the others, then messages until the
/// window closes (or `messages` are done), then QUIT.
net::awaitable<void> run_connection(const settings& s, totals& t, net::steady_timer& gate, net::steady_timer& watchdog) {
    bool ready = false;
    try {
        mta_connection c{co_await net::this_coro::executor, s};
        co_await c.connect();
        co_await c.negotiate_and_greet();
        ready = true;
        if (++t.ready == s.connections) {
            t.begin = clock_type::now();
            t.end = t.begin + (s.idle.count() > 0 ? s.idle : s.duration);
            gate.cancel();
        } else {
            auto [ec] = co_await gate.async_wait(with_error); // cancelled when all are ready
            (void)ec;
        }
        if (s.idle.count() > 0) {
            net::steady_timer hold{co_await net::this_coro::executor, t.end};
            co_await hold.async_wait(with_error);
        } else {
            for (std::size_t m = 0; s.messages ? m < s.messages : clock_type::now() < t.end; ++m) {
                const auto t0 = clock_type::now();
                if (co_await c.message(t)) {
                    ++t.messages;
                    t.latency_us.push_back(static_cast<std::uint32_t>(
                        std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0).count()));
                }
            }
        }
        co_await c.quit();
        ++t.connections_done;
    } catch (const std::exception& e) {
        t.error(e.what());
        if (!ready && ++t.ready == s.connections) gate.cancel(); // a failed connection does not hold the others
    }
    if (++t.finished == s.connections) watchdog.cancel();
}

double percentile(const std::vector<std::uint32_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(i, sorted.size() - 1)] / 1000.0;
}

int run(const settings& s) {
    // One descriptor per connection, plus a few.
    rlimit nofile{};
    if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &nofile);
    }
    net::io_context io{1};
    net::steady_timer gate{io, clock_type::time_point::max()};
    // Bounds the whole run: a milter that stops answering ends it with an error.
    const auto window = s.messages ? std::chrono::milliseconds{0} : s.idle.count() > 0 ? s.idle : s.duration;
    net::steady_timer watchdog{io, clock_type::now() + window + 2 * s.timeout};
    totals t;
    watchdog.async_wait([&](boost::system::error_code ec) {
        if (ec) return;
        t.error("the run did not end within the window + 2 x --timeout");
        io.stop();
    });
    t.latency_us.reserve(1 << 20);
    for (std::size_t i = 0; i < s.connections; ++i)
        net::co_spawn(io, run_connection(s, t, gate, watchdog), net::detached);
    io.run();
    const auto finished = clock_type::now();

    std::sort(t.latency_us.begin(), t.latency_us.end());
    const double seconds =
        t.begin == clock_type::time_point{} ? 0 : std::chrono::duration<double>(finished - t.begin).count();
    const double rate = seconds > 0 ? static_cast<double>(t.messages) / seconds : 0;
    // The generator's own CPU time: near one core's worth (cpu_s ~ seconds) would make it the
    // bottleneck of the run.
    rusage self{};
    ::getrusage(RUSAGE_SELF, &self);
    const double cpu = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                       static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
    std::printf("milter=%s connections=%zu body=%zu headers=%zu messages=%zu seconds=%.3f msgs_per_s=%.1f "
                "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%zu connections_ok=%zu loadgen_cpu_s=%.3f\n",
                s.milter.c_str(), s.connections, s.body_size, s.headers, t.messages, seconds, rate,
                percentile(t.latency_us, 0.50), percentile(t.latency_us, 0.99),
                t.latency_us.empty() ? 0.0 : t.latency_us.back() / 1000.0, t.errors, t.connections_done, cpu);
    for (const auto& [what, n] : t.error_kinds) std::fprintf(stderr, "loadgen: %zu x %s\n", n, what.c_str());
    return t.errors == 0 && t.connections_done == s.connections ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    namespace po = boost::program_options;
    settings s;
    std::string duration = "5s", idle, timeout = "30s", expect = "X-Bench: 1";
    po::options_description opts{"Usage: loadgen --milter SPEC [options]\nOptions"};
    opts.add_options()("help,h", "show this help")(
        "milter", po::value(&s.milter)->required(), "the milter's socket: inet:HOST:PORT, inet6:[HOST]:PORT, unix:/path")(
        "connections,c", po::value(&s.connections)->default_value(1), "concurrent connections")(
        "messages,m", po::value(&s.messages)->default_value(0), "messages per connection (0: until --duration ends)")(
        "duration,d", po::value(&duration)->default_value("5s"), "the measured window: 500ms, 5s, 1m")(
        "body-size", po::value(&s.body_size)->default_value(1024), "body bytes per message")(
        "headers", po::value(&s.headers)->default_value(5), "header fields per message")(
        "recipients", po::value(&s.recipients)->default_value(1), "recipients per message")(
        "expect-header", po::value(&expect)->default_value(expect), "the header end of message must add or insert: \"Name: value\" (value * for any)")(
        "idle", po::value(&idle), "open every connection, CONNECT, HELO, hold this long, QUIT (no messages)")(
        "timeout", po::value(&timeout)->default_value("30s"), "the run must end within the window + 2 x this");
    try {
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, opts), vm);
        if (vm.count("help")) {
            std::cout << opts << '\n';
            return 0;
        }
        po::notify(vm);
        const auto d = cppmilter::asio_server::parse_duration(duration);
        const auto to = cppmilter::asio_server::parse_duration(timeout);
        const auto i = idle.empty() ? std::optional{std::chrono::milliseconds{0}} : cppmilter::asio_server::parse_duration(idle);
        const auto colon = expect.find(':');
        if (!d || !to || !i) throw po::error{"bad duration"};
        if (colon == std::string::npos) throw po::error{"--expect-header needs \"Name: value\""};
        if (s.connections == 0) throw po::error{"--connections must be at least 1"};
        s.duration = *d;
        s.timeout = *to;
        s.idle = *i;
        s.expect_name = expect.substr(0, colon);
        s.expect_value = expect.substr(expect.find_first_not_of(' ', colon + 1) == std::string::npos
                                           ? expect.size()
                                           : expect.find_first_not_of(' ', colon + 1));
    } catch (const po::error& e) {
        std::cerr << "loadgen: " << e.what() << "\n" << opts << '\n';
        return 64;
    }
    return run(s);
}
