// Every fault at once (issue 18 §3): while slow readers, vanishing MTAs, malformed packets and
// hooks that throw or hang come and go, the well-behaved MTAs get every answer right, each
// faulty connection gets what the server promises (the fallback verdict, or a close that the
// server's own metrics count), and afterwards nothing is left open. The well-behaved MTAs'
// throughput and latency are printed beside a baseline without faults: measured, never
// asserted (the machine is shared). One in-process server on 2 threads; every wait is bounded
// (the MTA client's 10 s, the bounded scripts of the faulty MTAs, CTest's TIMEOUT).
#define BOOST_TEST_MODULE cppmilter stress with every fault
#include <boost/test/unit_test.hpp>

#include "support/eventually.hpp"
#include "support/hex.hpp"
#include "support/malformed_packets.hpp"
#include "support/mta_client.hpp"

#include <cppmilter/asio/server.hpp>
#include <cppmilter/cppmilter.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iomanip>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace cm = cppmilter;
namespace proto = cppmilter::proto;
namespace srv = cppmilter::asio_server;
namespace asio = boost::asio;
using cppmilter::test::eventually;
using cppmilter::test::from_hex;
using cppmilter::test::mta_client;
using cppmilter::test::mta_error;
using cppmilter::test::str;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto hook_limit = 1s;  // --hook-timeout
constexpr auto read_limit = 2s;  // --timeout
constexpr auto write_limit = 1s; // --write-timeout
constexpr auto eof_limit = 5s;   // how long the server may take to close a connection it must close

constexpr std::size_t well_behaved_mtas = 8;
constexpr auto baseline_duration = 2s; // before the faults, and again after them
constexpr int hook_fault_workers = 2, hook_fault_rounds = 3; // each round hangs two hooks for hook_limit
constexpr int slow_reader_workers = 2, slow_readers_each = 2;
constexpr int vanishing_rounds = 40;
constexpr int malformed_passes = 2;

// ---------------------------------------------------------------------------------------------
// The milter

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t{co_await asio::this_coro::executor, d};
    co_await t.async_wait(asio::use_awaitable);
}

/// MAIL is asynchronous (as a lookup is): by the sender, it throws, hangs far past the hook
/// timeout, or continues. RCPT is synchronous and throws for the sender <sync-throw@...>, which
/// the MAIL hook kept. End of message is asynchronous too: it hangs for the Subject "hang", else
/// echoes the Subject, so that every answer names its message.
inline const auto faulty_hooks = cm::milter<cm::message_scoped<std::string>>(
    cm::on_mail_from([](const cm::mail_from& m, auto& ctx) -> asio::awaitable<cm::verdict> {
        ctx.message() = std::string{m.address};
        if (m.address.starts_with("<async-throw@")) {
            co_await sleep_for(1ms);
            throw std::runtime_error{"lookup failed on purpose"};
        }
        if (m.address.starts_with("<hang@")) co_await sleep_for(20 * hook_limit);
        co_return cm::next;
    }),
    cm::on_rcpt([](const cm::rcpt&, auto& ctx) -> cm::verdict {
        if (ctx.message().starts_with("<sync-throw@")) throw std::runtime_error{"policy failed on purpose"};
        return cm::next;
    }),
    cm::on_end_of_message([](const cm::message_headers& msg) -> asio::awaitable<cm::eom<cm::add_header>> {
        const auto subject = msg.header("Subject").value_or("");
        if (subject == "hang") co_await sleep_for(20 * hook_limit);
        co_return cm::add_header{"X-Stress", std::string{subject}};
    }));
using stress_server = srv::server<std::remove_cvref_t<decltype(faulty_hooks)>>;

static_assert(std::remove_cvref_t<decltype(faulty_hooks)>::negotiation.protocol.has(proto::protocol::no_reply_header),
              "headers are not answered: a slow reader's unread answers are the end-of-message ones");

srv::server_options stress_options() {
    srv::server_options o;
    o.listen = {"inet:127.0.0.1:0"};
    o.threads = 2;
    o.read_timeout = read_limit;
    o.write_timeout = write_limit;
    o.hook_timeout = hook_limit;
    o.progress_interval = 200ms; // several PROGRESS while an end-of-message hook hangs
    o.shutdown_timeout = 5s;
    o.metrics_listen = "inet:127.0.0.1:0"; // the server's own count of what it closed, and why
    return o;
}

// ---------------------------------------------------------------------------------------------
// Helpers

proto::mail mail(std::string_view sender) { return proto::mail{sender, {}}; }
const proto::rcpt recipient{"<bob@example.test>", {}};

std::string encoded(const proto::command& c) {
    std::string bytes;
    if (!proto::encode(bytes, c)) throw std::logic_error{"cannot encode a test command"};
    return bytes;
}
/// The first half of a packet: the MTA vanishes (or goes silent) in the middle of it.
std::string half_of(const proto::command& c) {
    const auto bytes = encoded(c);
    return bytes.substr(0, bytes.size() / 2);
}

/// One whole message with every answer checked; returns what was wrong (empty: nothing).
std::string checked_message(mta_client& mta, std::string_view sender, std::string_view subject) {
    if (auto a = str(mta.command(mail(sender))); a != "CONTINUE") return "MAIL answered " + a;
    if (auto a = str(mta.command(recipient)); a != "CONTINUE") return "RCPT answered " + a;
    mta.command(proto::header{"From", sender}); // not answered (NR_HDR), nothing read
    mta.command(proto::header{"Subject", subject});
    const std::string expected = R"(ADDHEADER name="X-Stress" value=")" + std::string{subject} + R"("; CONTINUE)";
    if (auto a = str(mta.end_of_message()); a != expected) return "end of message answered " + a + ", expected " + expected;
    mta.command(proto::abort{});
    return {};
}

/// A TCP connection without the MTA client's manners, for what that client cannot do: vanish
/// with a reset, and fetch /metrics. Blocking; every call bounded by SO_RCVTIMEO/SO_SNDTIMEO.
class raw_tcp {
public:
    /// `spec`: "inet:127.0.0.1:PORT", as the server's start() and metrics_address() give it.
    explicit raw_tcp(std::string_view spec) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<std::uint16_t>(std::stoi(std::string{spec.substr(spec.rfind(':') + 1)})));
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw std::runtime_error{"socket() failed"};
        const timeval limit{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit); // bounds connect() too
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
            ::close(fd_);
            throw std::runtime_error{std::string{spec} + ": cannot connect"};
        }
    }
    ~raw_tcp() {
        if (fd_ >= 0) ::close(fd_);
    }
    raw_tcp(const raw_tcp&) = delete;
    raw_tcp& operator=(const raw_tcp&) = delete;

    void write_all(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw std::runtime_error{"send() failed or timed out"};
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    std::string read_to_eof() {
        std::string out;
        char buffer[4096];
        for (;;) {
            const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::runtime_error{"recv() failed or timed out"};
            if (n == 0) return out;
            out.append(buffer, static_cast<std::size_t>(n));
        }
    }
    /// Closes with RST instead of FIN (SO_LINGER 0), as a crashed MTA host or a firewall does.
    void reset() noexcept {
        const linger abort_on_close{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
        ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

/// The value of the unlabelled counter cppmilter_NAME in the server's /metrics.
std::uint64_t counter(const std::string& metrics, std::string_view name) {
    const std::string line = "\ncppmilter_" + std::string{name} + " ";
    const auto at = metrics.find(line);
    if (at == std::string::npos) throw std::runtime_error{"no " + line.substr(1) + "in /metrics"};
    return std::stoull(metrics.substr(at + line.size()));
}

std::string scrape(const std::string& metrics_address) {
    raw_tcp http{metrics_address};
    http.write_all("GET /metrics HTTP/1.0\r\n\r\n");
    return http.read_to_eof();
}

/// What the client threads found wrong, for the main thread to report (Boost.Test's
/// assertions are not thread-safe).
class findings {
public:
    void add(std::string what) {
        std::lock_guard lock{mutex_};
        list_.push_back(std::move(what));
    }
    std::vector<std::string> take() {
        std::lock_guard lock{mutex_};
        return std::move(list_);
    }

private:
    std::mutex mutex_;
    std::vector<std::string> list_;
};

/// What the faulty MTAs did, as the server's metrics must count it.
struct fault_tally {
    std::atomic<std::uint64_t> connections{0}; ///< every MTA connection of the test, faulty or not
    std::atomic<std::uint64_t> hook_failures{0}, hook_timeouts{0}, write_timeouts{0}, read_timeouts{0}, bad_input{0};
    std::atomic<std::uint64_t> vanished{0}; ///< counted by no metric: they must only leave nothing open
};

// ---------------------------------------------------------------------------------------------
// Well-behaved MTAs

/// What the well-behaved MTAs measured in one phase (or several, pooled).
struct phase_figures {
    double seconds = 0;
    std::vector<double> latencies_ms; ///< one per message, MAIL to the end-of-message answer

    std::size_t messages() const { return latencies_ms.size(); }
    double per_second() const { return static_cast<double>(messages()) / seconds; }
    double percentile_ms(double p) const { // nearest rank
        if (latencies_ms.empty()) return 0;
        std::vector<double> sorted = latencies_ms;
        std::sort(sorted.begin(), sorted.end());
        const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
        return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
    }
    phase_figures& operator+=(const phase_figures& other) {
        seconds += other.seconds;
        latencies_ms.insert(latencies_ms.end(), other.latencies_ms.begin(), other.latencies_ms.end());
        return *this;
    }
};

/// One MTA sending messages while `go_on()` holds, each answer checked; `latencies` gets the
/// milliseconds from MAIL to the end-of-message answer of each message.
void well_behaved_mta(const std::string& address, const std::string& name, const std::function<bool()>& go_on,
                      std::vector<double>& latencies, fault_tally& tally, findings& found) {
    try {
        mta_client mta;
        mta.connect(address);
        ++tally.connections;
        mta.negotiate();
        const std::string sender = "<" + name + "@example.test>";
        while (go_on()) {
            const std::string subject = name + "-" + std::to_string(latencies.size());
            const auto started = clock_type::now();
            if (auto wrong = checked_message(mta, sender, subject); !wrong.empty())
                return found.add("well-behaved " + subject + ": " + wrong);
            latencies.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - started).count());
        }
        mta.command(proto::quit{});
        if (!mta.read_eof(eof_limit)) found.add("well-behaved " + name + ": not closed after QUIT");
    } catch (const std::exception& e) {
        found.add("well-behaved " + name + ": " + e.what());
    }
}

/// The well-behaved MTAs, each on its own thread, until `go_on()` says stop.
phase_figures well_behaved_phase(const std::string& address, std::string_view phase, const std::function<bool()>& go_on,
                                 fault_tally& tally, findings& found) {
    std::vector<std::vector<double>> latencies(well_behaved_mtas);
    const auto started = clock_type::now();
    {
        std::vector<std::jthread> mtas;
        for (std::size_t i = 0; i < well_behaved_mtas; ++i)
            mtas.emplace_back([&, i] {
                well_behaved_mta(address, std::string{phase} + "-" + std::to_string(i), go_on, latencies[i], tally, found);
            });
    }
    phase_figures f;
    f.seconds = std::chrono::duration<double>(clock_type::now() - started).count();
    for (const auto& l : latencies) f.latencies_ms.insert(f.latencies_ms.end(), l.begin(), l.end());
    return f;
}

// ---------------------------------------------------------------------------------------------
// Faulty MTAs: bounded scripts, each on its own thread

/// Senders whose hooks throw or hang: the fallback (TEMPFAIL) at the command, then a whole
/// message on the same connection.
void hook_faults(const std::string& address, int worker, fault_tally& tally, findings& found) {
    try {
        mta_client mta;
        mta.connect(address);
        ++tally.connections;
        mta.negotiate();
        auto expect = [&](std::string_view what, const std::vector<std::string>& got, std::string_view want) {
            if (str(got) != want)
                found.add("hook faults: " + std::string{what} + " answered " + str(got) + ", expected " + std::string{want});
        };
        int message = 0;
        auto usable_after = [&](std::string_view fault) {
            mta.command(proto::abort{});
            const std::string subject = "hooks-" + std::to_string(worker) + "-" + std::to_string(message++);
            if (auto wrong = checked_message(mta, "<after-faults@example.test>", subject); !wrong.empty())
                found.add("hook faults: the connection is not usable after " + std::string{fault} + ": " + wrong);
        };
        for (int round = 0; round < hook_fault_rounds; ++round) {
            ++tally.hook_failures;
            expect("MAIL whose asynchronous hook throws", mta.command(mail("<async-throw@example.test>")), "TEMPFAIL");
            usable_after("an asynchronous hook threw");

            ++tally.hook_failures;
            ++tally.hook_timeouts;
            expect("MAIL whose hook hangs", mta.command(mail("<hang@example.test>")), "TEMPFAIL");
            usable_after("a hook hung");

            expect("MAIL of <sync-throw@...>", mta.command(mail("<sync-throw@example.test>")), "CONTINUE");
            ++tally.hook_failures;
            expect("RCPT whose synchronous hook throws", mta.command(recipient), "TEMPFAIL");
            usable_after("a synchronous hook threw");

            expect("MAIL", mta.command(mail("<eom-hangs@example.test>")), "CONTINUE");
            expect("RCPT", mta.command(recipient), "CONTINUE");
            mta.command(proto::header{"Subject", "hang"});
            const auto progress_before = mta.progress_count();
            ++tally.hook_failures;
            ++tally.hook_timeouts;
            expect("end of message whose hook hangs", mta.end_of_message(), "TEMPFAIL");
            if (mta.progress_count() == progress_before) found.add("hook faults: no PROGRESS while the end-of-message hook hung");
            usable_after("an end-of-message hook hung");
        }
        mta.command(proto::quit{});
        if (!mta.read_eof(eof_limit)) found.add("hook faults: not closed after QUIT");
    } catch (const std::exception& e) {
        found.add(std::string{"hook faults: "} + e.what());
    }
}

/// MTAs that send message after message and read none of the answers: once the socket buffers
/// are full the server's write stalls, and the write timeout must close the connection.
void slow_readers(const std::string& address, fault_tally& tally, findings& found) {
    const std::string big_subject(60 * 1024, 's'); // echoed in every answer: 60 KiB unread per message
    // Far more than loopback's buffers hold both ways (tcp_wmem/tcp_rmem maxima: 4 + 32 MiB).
    constexpr int most_messages = 2000;
    for (int i = 0; i < slow_readers_each; ++i) {
        try {
            mta_client deaf;
            deaf.connect(address);
            ++tally.connections;
            deaf.negotiate();
            ++tally.write_timeouts;
            std::string send_error; // the server stopped reading, then closed: a send fails
            for (int m = 0; m < most_messages && send_error.empty(); ++m) {
                try {
                    deaf.send(mail("<deaf@example.test>"));
                    deaf.send(recipient);
                    deaf.send(proto::header{"Subject", big_subject});
                    deaf.send(proto::end_of_body{});
                    deaf.send(proto::abort{});
                } catch (const mta_error& e) {
                    send_error = e.what();
                }
            }
            if (send_error.empty())
                found.add("slow reader: the server read " + std::to_string(most_messages) + " messages whose answers were never read");
            else if (!deaf.read_eof(eof_limit))
                found.add("slow reader: still open after a send failed (" + send_error + ")");
        } catch (const std::exception& e) {
            found.add(std::string{"slow reader: "} + e.what());
        }
    }
}

/// MTAs that vanish: in the middle of a packet, in the middle of a message, with a reset, before
/// negotiating, while their hook hangs; and one that goes silent in the middle of a packet, for
/// the read timeout.
void vanishing(const std::string& address, fault_tally& tally, findings& found) {
    try {
        mta_client silent;
        silent.connect(address);
        ++tally.connections;
        silent.negotiate();
        silent.send_raw(half_of(mail("<silent@example.test>")));
        ++tally.read_timeouts;
        for (int round = 0; round < vanishing_rounds; ++round) {
            ++tally.connections;
            ++tally.vanished;
            const int kind = round % 5;
            if (kind == 2) { // a reset in the middle of a message
                raw_tcp reset{address};
                reset.write_all(encoded(cppmilter::test::full_offer) + encoded(mail("<reset@example.test>")) +
                                half_of(recipient));
                reset.reset();
                continue;
            }
            mta_client gone;
            gone.connect(address);
            if (kind == 3) continue; // before OPTNEG
            gone.negotiate();
            if (kind == 4) { // while its hook hangs: the server finds out when the hook times out
                ++tally.hook_failures;
                ++tally.hook_timeouts;
                gone.send(mail("<hang@example.test>"));
                continue;
            }
            if (auto a = str(gone.command(mail("<gone@example.test>"))); a != "CONTINUE")
                found.add("vanishing: MAIL answered " + a);
            if (kind == 0) { // in the middle of a packet
                gone.send_raw(half_of(recipient));
            } else { // in the middle of a message, between packets
                gone.command(recipient);
                gone.command(proto::header{"Subject", "never finished"});
            }
        }
        if (!silent.read_eof(read_limit + eof_limit)) found.add("vanishing: the silent MTA was not closed by the read timeout");
    } catch (const std::exception& e) {
        found.add(std::string{"vanishing: "} + e.what());
    }
}

/// Malformed input: every bad command of the decoder's table, and broken framing. Each must
/// close its connection.
void malformed(const std::string& address, fault_tally& tally, findings& found) {
    auto expect_closed = [&](const std::string& what, const std::function<void(mta_client&)>& misbehave) {
        try {
            mta_client bad;
            bad.connect(address);
            ++tally.connections;
            ++tally.bad_input;
            misbehave(bad);
            if (!bad.read_eof(eof_limit)) found.add("malformed: still open after " + what);
        } catch (const std::exception& e) {
            found.add("malformed: " + what + ": " + e.what());
        }
    };
    auto in_a_message = [&](mta_client& bad) {
        bad.negotiate();
        if (auto a = str(bad.command(mail("<malformed@example.test>"))); a != "CONTINUE") found.add("malformed: MAIL answered " + a);
    };
    constexpr std::string_view message_letters = "RLNBET";
    for (int pass = 0; pass < malformed_passes; ++pass) {
        for (const auto& t : cppmilter::test::bad_commands) {
            expect_closed(t.what, [&](mta_client& bad) {
                if (message_letters.find(t.letter) != std::string_view::npos) in_a_message(bad);
                else bad.negotiate();
                bad.send_raw(from_hex(t.hex));
            });
            if (t.letter == 'O')
                expect_closed(std::string{t.what} + " as the first packet", [&](mta_client& bad) { bad.send_raw(from_hex(t.hex)); });
        }
        expect_closed("a zero length", [&](mta_client& bad) {
            in_a_message(bad);
            bad.send_raw(from_hex("00000000"));
        });
        expect_closed("a length one over --max-packet", [&](mta_client& bad) {
            in_a_message(bad);
            const auto length = static_cast<std::uint32_t>(proto::default_max_payload + 2); // command letter + payload
            bad.send_raw(std::string{static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                                     static_cast<char>(length >> 8), static_cast<char>(length), 'L'});
        });
        expect_closed("a length of 4 GiB", [&](mta_client& bad) {
            in_a_message(bad);
            bad.send_raw(from_hex("ffffffff 42"));
        });
        expect_closed("an unknown command in the middle of a message", [&](mta_client& bad) {
            in_a_message(bad);
            bad.send_raw(from_hex("00000001 58"));
        });
        expect_closed("HTTP instead of OPTNEG", [](mta_client& bad) { bad.send_raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); });
    }
}

/// Polls every 5 ms until `done()` holds (true) or `limit` has passed (false).
std::string fixed(double value, int decimals) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(decimals) << value;
    return os.str();
}

std::string describe(const phase_figures& f) {
    return std::to_string(f.messages()) + " messages in " + fixed(f.seconds, 1) + " s by " +
           std::to_string(well_behaved_mtas) + " MTAs: " + fixed(f.per_second(), 0) + " messages/s, latency p50 " +
           fixed(f.percentile_ms(0.50), 3) + " ms, p99 " + fixed(f.percentile_ms(0.99), 3) + " ms";
}

} // namespace

BOOST_AUTO_TEST_SUITE(stress_all_faults)

BOOST_AUTO_TEST_CASE(well_behaved_mtas_are_served_right_through_every_fault) {
    srv::set_log_level(srv::log_level::off); // hundreds of expected fault lines; the metrics count them
    stress_server s{faulty_hooks, stress_options()};
    const auto address = s.start().at(0);
    const auto metrics_address = s.metrics_address();
    fault_tally tally;
    findings found;

    auto baseline_phase = [&](std::string_view name) {
        const auto end = clock_type::now() + baseline_duration;
        return well_behaved_phase(address, name, [&] { return clock_type::now() < end; }, tally, found);
    };
    const auto before = baseline_phase("before");

    // The same MTAs again while every fault runs, as long as the faulty MTAs' scripts last.
    std::atomic<int> faults_running{0};
    phase_figures loaded;
    {
        std::vector<std::jthread> faults;
        auto start = [&](std::function<void()> script) {
            ++faults_running;
            faults.emplace_back([&faults_running, script = std::move(script)] {
                script();
                --faults_running;
            });
        };
        for (int w = 0; w < hook_fault_workers; ++w) start([&, w] { hook_faults(address, w, tally, found); });
        for (int w = 0; w < slow_reader_workers; ++w) start([&] { slow_readers(address, tally, found); });
        start([&] { vanishing(address, tally, found); });
        start([&] { malformed(address, tally, found); });
        loaded = well_behaved_phase(address, "loaded", [&] { return faults_running > 0; }, tally, found);
    }
    // On either side of the faults: the machine's own drift shows as a difference between the two.
    const auto after = baseline_phase("after");

    const auto problems = found.take();
    BOOST_TEST(problems.empty(), problems.size() << " problems; the first: " << (problems.empty() ? "" : problems.front()));
    for (std::size_t i = 1; i < std::min<std::size_t>(problems.size(), 20); ++i) BOOST_TEST_MESSAGE("also: " << problems[i]);
    BOOST_TEST(before.messages() > 0u);
    BOOST_TEST(loaded.messages() > 0u);
    BOOST_TEST(after.messages() > 0u);

    BOOST_TEST(eventually([&] { return s.active_connections() == 0; }, 10s), s.active_connections() << " connections still open");
    {
        mta_client fresh;
        fresh.connect(address);
        ++tally.connections;
        fresh.negotiate();
        BOOST_TEST(checked_message(fresh, "<fresh@example.test>", "fresh") == "");
        fresh.command(proto::quit{});
        BOOST_TEST(fresh.read_eof(eof_limit));
    }

    // What the server says it did, against what the faulty MTAs did.
    const auto metrics = scrape(metrics_address);
    BOOST_TEST(counter(metrics, "connections_accepted_total") == tally.connections.load());
    BOOST_TEST(counter(metrics, "hook_failures_total") == tally.hook_failures.load());
    BOOST_TEST(counter(metrics, "hook_timeouts_total") == tally.hook_timeouts.load());
    BOOST_TEST(counter(metrics, "write_timeouts_total") == tally.write_timeouts.load());
    BOOST_TEST(counter(metrics, "read_timeouts_total") == tally.read_timeouts.load());
    BOOST_TEST(counter(metrics, "malformed_input_total") + counter(metrics, "protocol_errors_total") +
                   counter(metrics, "negotiation_failures_total") ==
               tally.bad_input.load());

    auto baseline = before;
    baseline += after;
    BOOST_TEST_MESSAGE("no faults, before: " << describe(before));
    BOOST_TEST_MESSAGE("every fault:       " << describe(loaded));
    BOOST_TEST_MESSAGE("no faults, after:  " << describe(after));
    BOOST_TEST_MESSAGE("every fault / no faults (before and after pooled): throughput "
                       << fixed(loaded.per_second() / baseline.per_second(), 2) << "x, p50 "
                       << fixed(loaded.percentile_ms(0.50) / baseline.percentile_ms(0.50), 2) << "x, p99 "
                       << fixed(loaded.percentile_ms(0.99) / baseline.percentile_ms(0.99), 2) << "x");
    BOOST_TEST_MESSAGE("faults: " << tally.hook_failures.load() << " hook failures (" << tally.hook_timeouts.load()
                                  << " timeouts), " << tally.write_timeouts.load() << " slow readers, "
                                  << tally.vanished.load() << " vanished MTAs, " << tally.read_timeouts.load()
                                  << " silent, " << tally.bad_input.load() << " malformed inputs");
    s.request_stop();
    BOOST_TEST(s.wait() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
