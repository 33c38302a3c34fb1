// The Asio server end to end: real sockets on 127.0.0.1, ::1 and UNIX sockets in a temporary
// directory, the servers in-process (threads 2) or the showcase binary as a child process,
// and tests/support/mta_client.hpp playing the MTA. Every wait is bounded: the client's
// operations time out after 10 s, the children get alarm(30), and a watchdog ends the process
// if a test case runs longer than 90 s.
#define BOOST_TEST_MODULE cppmilter asio server
#include <boost/test/unit_test.hpp>

#include "showcase.hpp"
#include "stamp.hpp"
#include "support/eventually.hpp"
#include "support/hex.hpp"
#include "support/malformed_packets.hpp"
#include "support/mta_client.hpp"
#include "support/prerequisite.hpp"

#include <cppmilter/asio/server.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace cm = cppmilter;
namespace proto = cppmilter::proto;
namespace srv = cppmilter::asio_server;
using cppmilter::test::eventually;
using cppmilter::test::from_hex;
using cppmilter::test::full_offer;
using cppmilter::test::mta_client;
using cppmilter::test::str;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// ---------------------------------------------------------------------------------------------
// Milters and servers

/// A milter whose MAIL hook throws for senders that contain "throw".
inline constexpr auto thrower = cm::milter(cm::on_mail_from([](const cm::mail_from& m) -> cm::verdict {
    if (m.address.find("throw") != std::string_view::npos) throw std::runtime_error{"hook failed on purpose"};
    return cm::next;
}));

/// A milter whose MAIL hook sleeps 200 ms for senders that contain "slow".
inline constexpr auto slow_mail = cm::milter(cm::on_mail_from([](const cm::mail_from& m) -> cm::verdict {
    if (m.address.find("slow") != std::string_view::npos) std::this_thread::sleep_for(200ms);
    return cm::next;
}));

/// Replaces every body with 1 MiB: a few answers that the MTA does not read fill the kernel's
/// socket buffers.
const std::string& one_mebibyte() {
    static const std::string body(std::size_t{1} << 20, 'x');
    return body;
}
inline constexpr auto big_answer = cm::milter(cm::on_end_of_message(
    [](const cm::end_of_message&) -> cm::eom<cm::replace_body> { return cm::replace_body{one_mebibyte()}; }));

template <const auto& Pipeline>
using server_of = srv::server<std::remove_cvref_t<decltype(Pipeline)>>;
using showcase_server = server_of<examples::showcase>;
using stamp_server = server_of<examples::stamp_answering>;
using thrower_server = server_of<thrower>;
using slow_mail_server = server_of<slow_mail>;
using big_answer_server = server_of<big_answer>;

srv::server_options test_options(std::string listen) {
    srv::server_options o;
    o.listen = {std::move(listen)};
    o.threads = 2;
    o.shutdown_timeout = 5s; // a failing test must not leave the destructor draining for 30 s
    return o;
}

constexpr auto eof_limit = 5s; // how long a server may take to close a connection it must close

// ---------------------------------------------------------------------------------------------
// Helpers

/// Ends the process if a test case runs longer than 90 s: a hung server must fail the run,
/// not hang it.
class watchdog {
public:
    watchdog()
        : thread_{[this] {
              std::unique_lock lock{mutex_};
              if (!done_cv_.wait_for(lock, 90s, [this] { return done_; })) {
                  std::fprintf(stderr, "watchdog: the test case ran longer than 90 s; aborting\n");
                  std::fflush(stderr);
                  std::_Exit(3);
              }
          }} {}
    ~watchdog() {
        {
            std::lock_guard lock{mutex_};
            done_ = true;
        }
        done_cv_.notify_all();
        thread_.join();
    }

private:
    std::mutex mutex_;
    std::condition_variable done_cv_;
    bool done_ = false;
    std::thread thread_; // last: starts after the members it uses
};

struct temp_dir {
    std::string path;
    temp_dir() {
        char name[] = "/tmp/cppmilter-server-XXXXXX";
        BOOST_TEST_REQUIRE(::mkdtemp(name) != nullptr);
        path = name;
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

/// Runs `s.wait()` and returns how long it took.
template <class Server>
double timed_wait(Server& s) {
    const auto t0 = clock_type::now();
    BOOST_TEST(s.wait() == 0);
    return seconds_since(t0);
}

/// Stops an in-process server and checks that it stops within `limit`.
template <class Server>
void stop(Server& s, double limit = 5.0) {
    s.request_stop();
    const double took = timed_wait(s);
    BOOST_TEST(took < limit, "wait() took " << took << " s");
}

proto::mail mail(std::string_view address) { return proto::mail{address, {}}; }
proto::rcpt rcpt(std::string_view address) { return proto::rcpt{address, {}}; }
const proto::connect connect_event{"client.example", proto::address_family::inet, 54321, "192.0.2.1"};

/// True if the answers are what an MTA gets for a stage that just continues: CONTINUE, or
/// nothing (the command is switched off or not answered).
bool continues(const std::vector<std::string>& answers) { return answers.empty() || str(answers) == "CONTINUE"; }

/// What the showcase adds to every message.
constexpr std::string_view seen = R"(ADDHEADER name="X-Scenario" value="seen")";

using header_list = std::vector<std::pair<std::string_view, std::string_view>>;

/// One message as Postfix sends it (commands the milter switched off are not sent), every
/// stage up to the end of the message expected to continue. Returns the end-of-message
/// answers.
std::string message(mta_client& mta, const header_list& headers, std::string_view from = "<alice@example.test>",
                    std::string_view to = "<bob@example.test>") {
    BOOST_TEST(continues(mta.command(mail(from))));
    BOOST_TEST(continues(mta.command(rcpt(to))));
    BOOST_TEST(continues(mta.command(proto::data{})));
    for (const auto& [name, value] : headers) BOOST_TEST(continues(mta.command(proto::header{name, value})));
    BOOST_TEST(continues(mta.command(proto::end_of_headers{})));
    BOOST_TEST(continues(mta.command(proto::body{"Hello.\r\n"})));
    return str(mta.end_of_message());
}

/// A whole connection to the showcase milter that must work: negotiate, CONNECT, HELO, one
/// plain message, QUIT, and the server closes its end.
void clean_showcase_session(const std::string& address) {
    mta_client mta;
    mta.connect(address);
    mta.negotiate();
    BOOST_TEST(continues(mta.command(connect_event)));
    BOOST_TEST(continues(mta.command(proto::helo{"client.example"})));
    BOOST_TEST(message(mta, {{"Subject", "plain"}}) == std::string{seen} + "; CONTINUE");
    mta.command(proto::quit{});
    BOOST_TEST(mta.read_eof(eof_limit));
}

void raise_fd_limit() {
    rlimit l{};
    BOOST_TEST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &l) == 0);
    l.rlim_cur = l.rlim_max;
    BOOST_TEST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &l) == 0);
    BOOST_TEST_MESSAGE("RLIMIT_NOFILE: " << l.rlim_cur);
}

// ---------------------------------------------------------------------------------------------
// Child processes (the showcase binary)

/// A child process, killed (SIGKILL) and reaped if still running when this goes out of scope.
struct child {
    pid_t pid = -1;
    bool exited = false;
    int status = 0; ///< the wait status, once exited
    child() = default;
    explicit child(pid_t p) : pid{p} {}
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    ~child() {
        if (running()) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
    bool running() {
        if (pid <= 0 || exited) return false;
        pid_t r;
        while ((r = ::waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR) {}
        exited = r == pid;
        return r == 0;
    }
    /// Waits for the exit: the wait status, or nullopt if still running after `limit`.
    std::optional<int> wait_exit(std::chrono::milliseconds limit) {
        const auto deadline = clock_type::now() + limit;
        while (running() && clock_type::now() < deadline) std::this_thread::sleep_for(5ms);
        if (!exited) return std::nullopt;
        return status;
    }
};

std::string describe(int status) {
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
}

/// Starts `binary` with `args`; `in_child` runs in the child before exec (fd and environment
/// set-up). The child dies by SIGALRM after 30 s whatever happens.
pid_t spawn_program(const char* binary, const std::vector<std::string>& args, const std::function<void()>& in_child = {}) {
    std::vector<std::string> words{binary};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) BOOST_FAIL("fork: " << std::strerror(errno));
    if (pid == 0) {
        ::alarm(30); // survives exec
        if (in_child) in_child();
        ::execv(argv[0], argv.data());
        std::perror("execv");
        ::_exit(127);
    }
    return pid;
}

pid_t spawn_showcase(const std::vector<std::string>& args, const std::function<void()>& in_child = {}) {
    return spawn_program(SHOWCASE_BINARY, args, in_child);
}

struct process_result {
    int status = -1;
    std::string out;
    std::string err;
};

/// Runs `binary` to its end (at most 10 s) and collects its output.
process_result run_program(const char* binary, const std::vector<std::string>& args) {
    int out_pipe[2], err_pipe[2];
    BOOST_TEST_REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
    BOOST_TEST_REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
    child c{spawn_program(binary, args, [&] {
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
    })};
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    process_result r;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    int open_pipes = 2;
    const auto deadline = clock_type::now() + 10s;
    while (open_pipes > 0 && clock_type::now() < deadline) {
        if (::poll(fds, 2, 100) <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            char buf[4096];
            const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                sinks[i]->append(buf, static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_pipes;
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) ::close(f.fd);
    auto status = c.wait_exit(5s);
    BOOST_TEST_REQUIRE(status.has_value(), binary << " did not exit");
    r.status = *status;
    return r;
}

process_result run_showcase(const std::vector<std::string>& args) { return run_program(SHOWCASE_BINARY, args); }

/// The showcase session the process tests run: a blocked sender, a plain message.
void short_showcase_session(mta_client& mta) {
    BOOST_TEST(str(mta.command(mail("<x@blocked.example>"))) == R"(REPLYCODE text="550 5.7.1 sender blocked")");
    mta.command(proto::abort{});
    BOOST_TEST(message(mta, {{"Subject", "plain"}}) == std::string{seen} + "; CONTINUE");
}

} // namespace

// =============================================================================================
// A whole showcase session over each kind of socket

namespace {

void full_showcase_session(const std::string& listen) {
    showcase_server s{examples::showcase, test_options(listen)};
    const auto bound = s.start();
    BOOST_TEST_REQUIRE(bound.size() == 1u);
    BOOST_TEST_MESSAGE("listening on " << bound[0]);
    {
        mta_client mta;
        mta.connect(bound[0]);
        const auto neg = mta.negotiate();
        using showcase_type = std::remove_cvref_t<decltype(examples::showcase)>;
        BOOST_TEST(neg.version == 6u);
        BOOST_TEST(neg.actions == showcase_type::negotiation.actions);
        BOOST_TEST(neg.protocol == showcase_type::negotiation.protocol);
        BOOST_TEST(s.active_connections() == 1u);

        // Switched off by the showcase (NOCONNECT, NOHELO): not sent, as an MTA would not.
        BOOST_TEST(mta.command(connect_event).empty());
        BOOST_TEST(mta.command(proto::helo{"client.example"}).empty());

        BOOST_TEST(str(mta.command(mail("<spammer@Blocked.Example>"))) ==
                   R"(REPLYCODE text="550 5.7.1 sender blocked")");
        mta.command(proto::abort{});

        // Message 1: every keyword, one of them in a folded Subject.
        BOOST_TEST(str(mta.command(mail("<alice@example.test>"))) == "CONTINUE");
        BOOST_TEST(str(mta.command(rcpt("<tempfail@example.test>"))) == R"(REPLYCODE text="451 4.7.1 try later")");
        BOOST_TEST(str(mta.command(rcpt("<bob@example.test>"))) == "CONTINUE");
        BOOST_TEST(mta.command(proto::data{}).empty());
        BOOST_TEST(mta.command(proto::header{"From", "<alice@example.test>"}).empty()); // NR_HDR
        BOOST_TEST(mta.command(proto::header{"Subject", "a\n\tREPLACEBODY"}).empty());
        BOOST_TEST(mta.command(proto::header{"Subject", "ADDRCPT DELRCPT CHGFROM QUARANTINE CHGHDR INSHDR"}).empty());
        BOOST_TEST(mta.command(proto::end_of_headers{}).empty());
        BOOST_TEST(mta.command(proto::body{"Hello.\r\n"}).empty());
        const std::vector<std::string> all = mta.end_of_message();
        const std::vector<std::string> expected{
            std::string{seen},
            R"(REPLBODY 15 bytes "body replaced\r\n")",
            R"(ADDRCPT rcpt="<added@example.test>")",
            R"(DELRCPT rcpt="<gone@example.test>")",
            R"(CHGFROM sender="<new@example.test>")",
            R"(QUARANTINE reason="held")",
            R"(CHGHEADER index=1 name="X-Change" value="changed")",
            R"(INSHEADER index=0 name="X-First" value="1")",
            "CONTINUE",
        };
        BOOST_TEST(all == expected, boost::test_tools::per_element());
        mta.command(proto::abort{});

        // Message 2: nothing of message 1 leaks into it.
        BOOST_TEST(message(mta, {{"Subject", "plain"}}) == std::string{seen} + "; CONTINUE");
        // Message 3 follows without ABORT: the verdict of the message.
        BOOST_TEST(message(mta, {{"Subject", "please DISCARD"}}) == std::string{seen} + "; DISCARD");
        // Message 4: no Subject at all.
        BOOST_TEST(message(mta, {{"From", "<carol@example.test>"}}) == std::string{seen} + "; CONTINUE");

        mta.command(proto::quit{});
        BOOST_TEST(mta.read_eof(eof_limit), "the server did not close the connection after QUIT");
    }
    BOOST_TEST(eventually([&] { return s.active_connections() == 0; }));
    stop(s);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_session, watchdog)

BOOST_AUTO_TEST_CASE(tcp_v4) { full_showcase_session("inet:127.0.0.1:0"); }

BOOST_AUTO_TEST_CASE(tcp_v6, *boost::unit_test::precondition(cppmilter::test::ipv6_loopback)) {
    full_showcase_session("inet6:[::1]:0");
}

BOOST_AUTO_TEST_CASE(unix_socket) {
    temp_dir dir;
    full_showcase_session("unix:" + dir.path + "/showcase.sock");
    BOOST_TEST(!std::filesystem::exists(dir.path + "/showcase.sock"), "the socket file is left behind");
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
// Many connections at once

BOOST_FIXTURE_TEST_SUITE(server_load, watchdog)

BOOST_AUTO_TEST_CASE(a_thousand_concurrent_connections) {
    raise_fd_limit();
    constexpr std::size_t count = 1000;
    stamp_server s{examples::stamp_answering, test_options("inet:127.0.0.1:0")};
    const auto address = s.start().at(0);
    const auto t0 = clock_type::now();
    {
        std::vector<mta_client> mtas(count);
        for (auto& m : mtas) m.connect(address);
        for (auto& m : mtas) m.negotiate();
        BOOST_TEST_MESSAGE(count << " connections negotiated after " << seconds_since(t0) << " s");
        BOOST_TEST(s.active_connections() == count);
        BOOST_TEST_REQUIRE(mtas[0].options().protocol.empty(), "the stamp milter is sent and answers everything");

        // One message on each, interleaved: every connection gets a command, then every one
        // reads its answer.
        const proto::command steps[] = {connect_event,    proto::helo{"client.example"},
                                        mail("<a@example.test>"), rcpt("<b@example.test>"),
                                        proto::data{},    proto::header{"Subject", "load"},
                                        proto::end_of_headers{}, proto::body{"Hello.\r\n"},
                                        proto::end_of_body{}};
        for (const auto& step : steps) {
            const bool eom = std::holds_alternative<proto::end_of_body>(step);
            const std::string expected = eom ? R"(ADDHEADER name="X-Bench" value="1"; CONTINUE)" : "CONTINUE";
            for (auto& m : mtas) m.send(step);
            std::size_t wrong = 0;
            std::string first_wrong;
            for (auto& m : mtas) {
                const auto got = str(m.receive());
                if (got != expected && wrong++ == 0) first_wrong = got;
            }
            BOOST_TEST(wrong == 0u, wrong << " wrong answers to " << step << ", the first: " << first_wrong);
        }
        for (auto& m : mtas) m.send(proto::quit{});
        std::size_t still_open = 0;
        for (auto& m : mtas) still_open += !m.read_eof(eof_limit);
        BOOST_TEST(still_open == 0u, still_open << " connections not closed after QUIT");
    }
    BOOST_TEST(eventually([&] { return s.active_connections() == 0; }), s.active_connections() << " still active");
    BOOST_TEST_MESSAGE(count << " sessions done after " << seconds_since(t0) << " s");
    stop(s);
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
// Malformed input closes that connection only

BOOST_FIXTURE_TEST_SUITE(server_malformed, watchdog)

BOOST_AUTO_TEST_CASE(every_malformed_command_closes_its_connection) {
    auto options = test_options("inet:127.0.0.1:0");
    options.max_packet = 65535;
    showcase_server s{examples::showcase, options};
    const auto address = s.start().at(0);
    constexpr std::string_view message_letters = "RLNBET";
    for (const auto& t : cppmilter::test::bad_commands) {
        BOOST_TEST_CONTEXT(t.what) {
            {
                mta_client bad;
                bad.connect(address);
                bad.negotiate();
                if (message_letters.find(t.letter) != std::string_view::npos)
                    BOOST_TEST(str(bad.command(mail("<alice@example.test>"))) == "CONTINUE");
                bad.send_raw(from_hex(t.hex));
                BOOST_TEST(bad.read_eof(eof_limit), "the connection stays open after the malformed packet");
            }
            if (t.letter == 'O') { // a bad OPTNEG as the very first packet, too
                mta_client bad;
                bad.connect(address);
                bad.send_raw(from_hex(t.hex));
                BOOST_TEST(bad.read_eof(eof_limit), "the connection stays open after the malformed first OPTNEG");
            }
            clean_showcase_session(address);
        }
    }
    BOOST_TEST(eventually([&] { return s.active_connections() == 0; }));
    stop(s);
}

BOOST_AUTO_TEST_CASE(broken_framing_and_order_close_the_connection) {
    auto options = test_options("inet:127.0.0.1:0");
    options.max_packet = 65535;
    showcase_server s{examples::showcase, options};
    const auto address = s.start().at(0);

    struct bad_start {
        const char* what;
        bool negotiate;
        std::function<void(mta_client&)> send;
    };
    const bad_start cases[] = {
        {"zero length", true, [](mta_client& m) { m.send_raw(from_hex("00000000")); }},
        {"zero length in the middle of a message", true,
         [](mta_client& m) {
             BOOST_TEST(str(m.command(mail("<a@example.test>"))) == "CONTINUE");
             m.send_raw(from_hex("00000000 0000000151"));
         }},
        // 70,001 announced: payload 70,000 > 65,535. Refused at once, the payload never comes.
        {"length over --max-packet", true, [](mta_client& m) { m.send_raw(from_hex("00011171 4c")); }},
        {"garbage before OPTNEG", false, [](mta_client& m) { m.send_raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); }},
        {"garbage that frames as a packet before OPTNEG", false,
         [](mta_client& m) { m.send_raw(from_hex("00000003 4d 3c3e")); }},
        {"a command before OPTNEG", false, [](mta_client& m) { m.send(mail("<a@example.test>")); }},
        {"a second OPTNEG", true, [](mta_client& m) { m.send(full_offer); }},
        {"RCPT outside a message", true, [](mta_client& m) { m.send(rcpt("<b@example.test>")); }},
        {"HEADER after BODY", true,
         [](mta_client& m) {
             BOOST_TEST(str(m.command(mail("<a@example.test>"))) == "CONTINUE");
             BOOST_TEST(str(m.command(rcpt("<b@example.test>"))) == "CONTINUE");
             m.send(proto::header{"Subject", "x"}); // NR_HDR: no answer
             m.send(proto::body{"text\r\n"});       // sent although NOBODY: still in order
             m.send(proto::header{"Subject", "late"});
         }},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.what) {
            {
                mta_client bad;
                bad.connect(address);
                if (c.negotiate) bad.negotiate();
                c.send(bad);
                BOOST_TEST(bad.read_eof(eof_limit), "the connection stays open");
            }
            clean_showcase_session(address);
        }
    }
    BOOST_TEST(eventually([&] { return s.active_connections() == 0; }));
    stop(s);
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
// Failing hooks and vanishing MTAs

BOOST_FIXTURE_TEST_SUITE(server_failures, watchdog)

BOOST_AUTO_TEST_CASE(a_throwing_hook_answers_the_fallback_and_the_connection_goes_on) {
    const std::pair<srv::fallback_verdict, std::string> fallbacks[] = {
        {srv::fallback_verdict::tempfail, "TEMPFAIL"},
        {srv::fallback_verdict::reject, "REJECT"},
    };
    for (const auto& [fallback, answer] : fallbacks) {
        BOOST_TEST_CONTEXT("fallback " << srv::to_string(fallback)) {
            auto options = test_options("inet:127.0.0.1:0");
            options.fallback = fallback;
            thrower_server s{thrower, options};
            const auto address = s.start().at(0);
            {
                mta_client mta;
                mta.connect(address);
                mta.negotiate();
                BOOST_TEST(str(mta.command(mail("<throw@example.test>"))) == answer);
                mta.command(proto::abort{});
                BOOST_TEST(str(mta.command(mail("<fine@example.test>"))) == "CONTINUE");
                BOOST_TEST(str(mta.end_of_message()) == "CONTINUE");
                // After a finished message, and without ABORT: the same again.
                BOOST_TEST(str(mta.command(mail("<throw-again@example.test>"))) == answer);
                BOOST_TEST(str(mta.command(mail("<fine@example.test>"))) == "CONTINUE");
                BOOST_TEST(str(mta.end_of_message()) == "CONTINUE");
                mta.command(proto::quit{});
                BOOST_TEST(mta.read_eof(eof_limit));
            }
            BOOST_TEST(eventually([&] { return s.active_connections() == 0; }));
            stop(s);
        }
    }
}

BOOST_AUTO_TEST_CASE(an_mta_that_vanishes_mid_message_harms_no_other_connection) {
    stamp_server s{examples::stamp_answering, test_options("inet:127.0.0.1:0")};
    const auto address = s.start().at(0);

    auto start_message = [&](mta_client& m) {
        m.connect(address);
        m.negotiate();
        for (const proto::command& c : {proto::command{connect_event}, proto::command{proto::helo{"client.example"}},
                                        proto::command{mail("<a@example.test>")}, proto::command{rcpt("<b@example.test>")},
                                        proto::command{proto::data{}}, proto::command{proto::header{"Subject", "x"}}})
            BOOST_TEST(str(m.command(c)) == "CONTINUE");
    };

    mta_client survivor; // opened before, in the middle of its message throughout
    start_message(survivor);
    {
        mta_client vanishing;
        start_message(vanishing);
        BOOST_TEST(str(vanishing.command(proto::end_of_headers{})) == "CONTINUE");
        BOOST_TEST(str(vanishing.command(proto::body{"first chunk\r\n"})) == "CONTINUE");
        vanishing.send(proto::body{"second chunk, never answered\r\n"});
        vanishing.close();
    }
    {
        mta_client half_packet; // vanishes in the middle of a BODY packet
        start_message(half_packet);
        BOOST_TEST(str(half_packet.command(proto::end_of_headers{})) == "CONTINUE");
        half_packet.send_raw(from_hex("00000010 42 6869")); // 15 bytes announced, 2 sent
        half_packet.close();
    }
    BOOST_TEST(eventually([&] { return s.active_connections() == 1; }), s.active_connections() << " active");

    BOOST_TEST(str(survivor.command(proto::end_of_headers{})) == "CONTINUE");
    BOOST_TEST(str(survivor.command(proto::body{"Hello.\r\n"})) == "CONTINUE");
    BOOST_TEST(str(survivor.end_of_message()) == R"(ADDHEADER name="X-Bench" value="1"; CONTINUE)");
    survivor.command(proto::quit{});
    BOOST_TEST(survivor.read_eof(eof_limit));
    BOOST_TEST(eventually([&] { return s.active_connections() == 0; }), s.active_connections() << " active");

    mta_client fresh;
    start_message(fresh);
    BOOST_TEST(str(fresh.command(proto::end_of_headers{})) == "CONTINUE");
    BOOST_TEST(str(fresh.end_of_message()) == R"(ADDHEADER name="X-Bench" value="1"; CONTINUE)");
    fresh.command(proto::quit{});
    BOOST_TEST(fresh.read_eof(eof_limit));
    stop(s);
}

BOOST_AUTO_TEST_CASE(an_mta_that_closes_right_after_its_last_packet_is_closed_at_once) {
    // The end of stream can come in the same wake-up as the last bytes: a read returns the
    // bytes, and only the next read says the stream ended. A server that parks after that
    // short read keeps the connection (and its slot) until the read timeout. Made certain
    // here: while the only server thread sleeps in another connection's hook, the MTA sends a
    // packet that is not answered (so nothing it did not read turns its close into a reset)
    // and closes.
    auto options = test_options("inet:127.0.0.1:0");
    options.threads = 1;
    options.read_timeout = 60s;
    slow_mail_server s{slow_mail, options};
    const auto address = s.start().at(0);
    mta_client closing, sleeping;
    closing.connect(address);
    closing.negotiate();
    sleeping.connect(address);
    sleeping.negotiate();
    sleeping.send(mail("<slow@example.test>"));
    std::this_thread::sleep_for(50ms); // the server thread has read it and sleeps in the hook
    closing.send(proto::abort{});
    closing.close();
    BOOST_TEST(str(sleeping.receive()) == "CONTINUE");
    sleeping.command(proto::quit{});
    BOOST_TEST(eventually([&] { return s.active_connections() == 0; }, 5s),
               s.active_connections() << " still open, the closed MTA's among them");
    stop(s);
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
// Limits: read and write timeouts, connection limit

BOOST_FIXTURE_TEST_SUITE(server_limits, watchdog)

BOOST_AUTO_TEST_CASE(a_silent_mta_is_closed_after_the_read_timeout) {
    auto options = test_options("inet:127.0.0.1:0");
    options.read_timeout = 300ms;
    showcase_server s{examples::showcase, options};
    const auto address = s.start().at(0);
    {
        mta_client mta;
        mta.connect(address);
        mta.negotiate();
        const auto t0 = clock_type::now();
        BOOST_TEST(mta.read_eof(eof_limit), "the silent connection was not closed");
        const double took = seconds_since(t0);
        BOOST_TEST_MESSAGE("closed after " << took << " s");
        BOOST_TEST(took > 0.2);
        BOOST_TEST(took < 3.0);
    }
    {
        // An MTA that keeps talking is not closed, however long the whole session lasts.
        mta_client mta;
        mta.connect(address);
        mta.negotiate();
        for (int i = 0; i < 5; ++i) {
            std::this_thread::sleep_for(100ms);
            BOOST_TEST(str(mta.command(mail("<a@example.test>"))) == "CONTINUE");
        }
        BOOST_TEST(str(mta.end_of_message()) == std::string{seen} + "; CONTINUE");
        mta.command(proto::quit{});
        BOOST_TEST(mta.read_eof(eof_limit));
    }
    BOOST_TEST(eventually([&] { return s.active_connections() == 0; }));
    stop(s);
}

BOOST_AUTO_TEST_CASE(an_mta_that_stops_reading_is_closed_after_the_write_timeout) {
    auto options = test_options("inet:127.0.0.1:0");
    options.write_timeout = 1s;
    big_answer_server s{big_answer, options};
    const auto address = s.start().at(0);
    mta_client stuck;
    stuck.connect(address);
    stuck.negotiate();
    // 64 MiB of answers, none read: far more than loopback's socket buffers hold, so the
    // server's write stalls.
    for (int i = 0; i < 64; ++i) {
        stuck.send(proto::end_of_body{}); // MAIL is switched off: end of message opens the message
        stuck.send(proto::abort{});
    }
    {
        // Served meanwhile, whole answers and all.
        mta_client reader;
        reader.connect(address);
        reader.negotiate();
        for (int i = 0; i < 3; ++i) {
            const auto answers = reader.end_of_message();
            BOOST_TEST_REQUIRE(answers.size() > 1u);
            BOOST_TEST(answers.back() == "CONTINUE");
            BOOST_TEST(std::all_of(answers.begin(), answers.end() - 1,
                                   [](const std::string& a) { return a.starts_with("REPLBODY "); }));
            reader.command(proto::abort{});
        }
        reader.command(proto::quit{});
        BOOST_TEST(reader.read_eof(eof_limit));
    }
    BOOST_TEST(eventually([&] { return s.active_connections() == 0; }),
               "the connection that reads nothing is still open: " << s.active_connections() << " active");
    BOOST_TEST(stuck.read_eof(eof_limit));
    stop(s);
}

BOOST_AUTO_TEST_CASE(connections_over_the_limit_are_closed_at_once) {
    auto options = test_options("inet:127.0.0.1:0");
    options.max_connections = 2;
    showcase_server s{examples::showcase, options};
    const auto address = s.start().at(0);
    {
        mta_client first, second, third;
        first.connect(address);
        first.negotiate();
        second.connect(address);
        second.negotiate();
        BOOST_TEST(s.active_connections() == 2u);
        third.connect(address); // the kernel accepts it; the server closes it
        BOOST_TEST(third.read_eof(eof_limit), "the third connection was not closed");
        BOOST_TEST(s.active_connections() == 2u);

        BOOST_TEST(message(first, {{"Subject", "one"}}) == std::string{seen} + "; CONTINUE");
        BOOST_TEST(message(second, {{"Subject", "DISCARD"}}) == std::string{seen} + "; DISCARD");
        first.command(proto::quit{});
        BOOST_TEST(first.read_eof(eof_limit));
        BOOST_TEST(eventually([&] { return s.active_connections() == 1; }));
        clean_showcase_session(address); // room again
        second.command(proto::quit{});
        BOOST_TEST(second.read_eof(eof_limit));
    }
    BOOST_TEST(eventually([&] { return s.active_connections() == 0; }));
    stop(s);
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
// Shutdown: drain, then the shutdown timeout

BOOST_FIXTURE_TEST_SUITE(server_shutdown, watchdog)

BOOST_AUTO_TEST_CASE(a_message_in_progress_is_finished_after_the_stop) {
    showcase_server s{examples::showcase, test_options("inet:127.0.0.1:0")};
    const auto address = s.start().at(0);
    mta_client mta;
    mta.connect(address);
    mta.negotiate();
    BOOST_TEST(str(mta.command(mail("<alice@example.test>"))) == "CONTINUE");
    BOOST_TEST(str(mta.command(rcpt("<bob@example.test>"))) == "CONTINUE");
    mta.command(proto::header{"Subject", "ADDRCPT"});

    s.request_stop();
    // New connections are refused once the stop is processed (it is posted to the server):
    // connect fails, or a connection accepted just before is closed at once.
    bool refused = false;
    for (const auto deadline = clock_type::now() + 5s; !refused && clock_type::now() < deadline;) {
        mta_client late;
        if (late.try_connect(address)) refused = true;
        else if (late.read_eof(200ms)) refused = true;
    }
    BOOST_TEST(refused, "new connections are still served after request_stop()");

    // The open connection finishes its message.
    mta.command(proto::header{"From", "<alice@example.test>"});
    BOOST_TEST(str(mta.end_of_message()) ==
               std::string{seen} + R"(; ADDRCPT rcpt="<added@example.test>"; CONTINUE)");
    mta.command(proto::quit{});
    BOOST_TEST(mta.read_eof(eof_limit));
    const double took = timed_wait(s);
    BOOST_TEST(took < 2.0, "wait() took " << took << " s after the last connection ended");
    BOOST_TEST(s.active_connections() == 0u);
}

BOOST_AUTO_TEST_CASE(the_shutdown_timeout_bounds_the_drain) {
    auto options = test_options("inet:127.0.0.1:0");
    options.shutdown_timeout = 300ms;
    std::optional<showcase_server> s;
    s.emplace(examples::showcase, options);
    const auto address = s->start().at(0);
    mta_client stuck;
    stuck.connect(address);
    stuck.negotiate();
    BOOST_TEST(str(stuck.command(mail("<alice@example.test>"))) == "CONTINUE");

    s->request_stop();
    const double took = timed_wait(*s);
    BOOST_TEST_MESSAGE("wait() returned after " << took << " s");
    BOOST_TEST(took > 0.2);
    BOOST_TEST(took < 2.0);
    BOOST_TEST(stuck.read_eof(1s), "the connection is still open after wait() returned");
    BOOST_TEST(s->active_connections() == 0u);
    s->request_stop(); // harmless after wait()
    s.reset();
}

BOOST_AUTO_TEST_SUITE_END()

// =============================================================================================
// The showcase binary: SIGTERM, socket activation, command line

BOOST_FIXTURE_TEST_SUITE(server_process, watchdog)

BOOST_AUTO_TEST_CASE(sigterm_drains_and_exits_0) {
    temp_dir dir;
    const std::string path = dir.path + "/s.sock";
    child p{spawn_showcase({"--listen", "unix:" + path, "--threads", "1"})};
    BOOST_TEST_REQUIRE(eventually([&] { return std::filesystem::is_socket(path) || !p.running(); }, 5s));
    BOOST_TEST_REQUIRE(std::filesystem::is_socket(path), "the showcase did not start");

    mta_client mta; // the file appears ready to accept (see unix_listener tests)
    mta.connect("unix:" + path);
    mta.negotiate();
    BOOST_TEST(str(mta.command(mail("<alice@example.test>"))) == "CONTINUE");
    BOOST_TEST(str(mta.command(rcpt("<bob@example.test>"))) == "CONTINUE");
    mta.command(proto::header{"Subject", "INSHDR"});

    BOOST_TEST_REQUIRE(::kill(p.pid, SIGTERM) == 0);
    // The listener closes at once (its socket file goes); the message still finishes.
    BOOST_TEST(eventually([&] { return !std::filesystem::exists(path); }, 5s), "the socket file stays after SIGTERM");
    const bool still_running = p.running();
    BOOST_TEST_REQUIRE(still_running, "the showcase ended at SIGTERM: " << describe(p.status));
    BOOST_TEST(str(mta.end_of_message()) == std::string{seen} + R"(; INSHEADER index=0 name="X-First" value="1"; CONTINUE)");
    mta.command(proto::quit{});
    BOOST_TEST(mta.read_eof(eof_limit));

    const auto status = p.wait_exit(5s);
    BOOST_TEST_REQUIRE(status.has_value(), "the showcase did not exit within 5 s of the last QUIT");
    BOOST_TEST(describe(*status) == "exit 0");
    BOOST_TEST(!std::filesystem::exists(path));
}

BOOST_AUTO_TEST_CASE(sigterm_at_once_after_start_exits_0) {
    // SIGTERM as soon as the socket file appears, while the server may still be starting.
    for (int round = 0; round < 5; ++round) {
        temp_dir dir;
        const std::string path = dir.path + "/s.sock";
        child p{spawn_showcase({"--listen", "unix:" + path, "--threads", "1"})};
        const auto deadline = clock_type::now() + 5s;
        while (!std::filesystem::exists(path) && p.running() && clock_type::now() < deadline)
            std::this_thread::sleep_for(200us);
        BOOST_TEST_REQUIRE(std::filesystem::exists(path), "the showcase did not start");
        BOOST_TEST_REQUIRE(::kill(p.pid, SIGTERM) == 0);
        const auto status = p.wait_exit(5s);
        BOOST_TEST_REQUIRE(status.has_value(), "the showcase did not exit within 5 s of SIGTERM");
        BOOST_TEST(describe(*status) == "exit 0");
        BOOST_TEST(!std::filesystem::exists(path), "the socket file is left behind");
    }
}

BOOST_AUTO_TEST_CASE(socket_activation_end_to_end) {
    // What systemd does: a listening socket made by the manager, fd 3 in the service,
    // LISTEN_FDS=1 and LISTEN_PID=<the service's pid>.
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_TEST_REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    BOOST_TEST_REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    BOOST_TEST_REQUIRE(::listen(fd, 16) == 0);
    BOOST_TEST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    const std::string address = "inet:127.0.0.1:" + std::to_string(ntohs(a.sin_port));

    child p{spawn_showcase({"--threads", "1"}, [fd] {
        if (fd == 3) ::fcntl(3, F_SETFD, 0); // dup2 onto itself would keep FD_CLOEXEC
        else ::dup2(fd, 3);                   // the copy at 3 is not close-on-exec
        char pid[32];
        std::snprintf(pid, sizeof pid, "%d", static_cast<int>(::getpid()));
        ::setenv("LISTEN_PID", pid, 1);
        ::setenv("LISTEN_FDS", "1", 1);
        ::unsetenv("LISTEN_FDNAMES");
    })};
    ::close(fd); // only the service holds the socket now

    {
        mta_client mta; // connects as soon as the socket listens; served once the milter runs
        mta.connect(address);
        mta.negotiate();
        short_showcase_session(mta);
        mta.command(proto::quit{});
        BOOST_TEST(mta.read_eof(eof_limit));
    }
    BOOST_TEST(p.running());
    BOOST_TEST_REQUIRE(::kill(p.pid, SIGTERM) == 0);
    const auto status = p.wait_exit(5s);
    BOOST_TEST_REQUIRE(status.has_value(), "the showcase did not exit within 5 s of SIGTERM");
    BOOST_TEST(describe(*status) == "exit 0");
    mta_client after;
    BOOST_TEST(after.try_connect(address).failed(), "something still listens after the exit");
}

BOOST_AUTO_TEST_CASE(sighup_reloads_the_milter_settings) {
    // sender_block --config FILE: SIGHUP re-reads the file; the next message sees the new list,
    // a connection open across the reload goes on, and a broken file keeps the old list.
    temp_dir dir;
    const std::string path = dir.path + "/s.sock", config = dir.path + "/sender_block.conf", log = dir.path + "/log";
    auto write_config = [&](std::string_view text) {
        const std::string partial = config + ".new"; // renamed over: the reload never sees half a file
        std::ofstream{partial} << text;
        std::filesystem::rename(partial, config);
    };
    write_config("# what sender_block refuses\nblock = first.example\n");
    child p{spawn_program(SENDER_BLOCK_BINARY, {"--listen", "unix:" + path, "--config", config, "--log-level", "info"}, [&] {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ::dup2(fd, 2);
    })};
    BOOST_TEST_REQUIRE(eventually([&] { return std::filesystem::is_socket(path) || !p.running(); }, 5s));
    BOOST_TEST_REQUIRE(std::filesystem::is_socket(path), "sender_block did not start: " << describe(p.status));
    auto log_text = [&] {
        std::ifstream in{log};
        return std::string{std::istreambuf_iterator<char>{in}, {}};
    };
    auto verdict = [](mta_client& mta, std::string_view sender) {
        auto answer = str(mta.command(mail(std::string{sender})));
        mta.command(proto::abort{});
        return answer;
    };
    const std::string blocked = R"(REPLYCODE text="550 5.7.1 sender blocked")";

    mta_client open_across;
    open_across.connect("unix:" + path);
    open_across.negotiate();
    BOOST_TEST(verdict(open_across, "<a@first.example>") == blocked);
    BOOST_TEST(verdict(open_across, "<a@second.example>") == "CONTINUE");

    write_config("block = second.example\n");
    BOOST_TEST_REQUIRE(::kill(p.pid, SIGHUP) == 0);
    BOOST_TEST_REQUIRE(eventually([&] { return log_text().find("SIGHUP: settings reloaded") != std::string::npos; }, 5s),
                       "no reload in the log: " << log_text());
    BOOST_TEST(verdict(open_across, "<a@second.example>") == blocked); // the same connection, the new list
    BOOST_TEST(verdict(open_across, "<a@first.example>") == "CONTINUE");
    {
        mta_client fresh;
        fresh.connect("unix:" + path);
        fresh.negotiate();
        BOOST_TEST(verdict(fresh, "<b@sub.second.example>") == blocked);
    }

    write_config("block = third.example\nno-such-option = 1\n");
    BOOST_TEST_REQUIRE(::kill(p.pid, SIGHUP) == 0);
    BOOST_TEST_REQUIRE(eventually([&] { return log_text().find("were not reloaded") != std::string::npos; }, 5s),
                       "no failed reload in the log: " << log_text());
    BOOST_TEST(log_text().find("no-such-option") != std::string::npos, log_text());
    BOOST_TEST(verdict(open_across, "<a@second.example>") == blocked); // the old list stays
    BOOST_TEST(verdict(open_across, "<a@third.example>") == "CONTINUE");

    write_config("block = bad domain\n"); // parses, but check() refuses it
    BOOST_TEST_REQUIRE(::kill(p.pid, SIGHUP) == 0);
    BOOST_TEST_REQUIRE(eventually([&] { return log_text().find("'bad domain' is not a domain") != std::string::npos; }, 5s),
                       "check() did not refuse the list: " << log_text());
    BOOST_TEST(verdict(open_across, "<a@second.example>") == blocked);

    BOOST_TEST(p.running(), "sender_block ended: " << describe(p.status));
    open_across.command(proto::quit{});
    BOOST_TEST(open_across.read_eof(eof_limit));
    BOOST_TEST_REQUIRE(::kill(p.pid, SIGTERM) == 0);
    const auto status = p.wait_exit(5s);
    BOOST_TEST_REQUIRE(status.has_value());
    BOOST_TEST(describe(*status) == "exit 0");
}

BOOST_AUTO_TEST_CASE(json_log_to_a_file_reopened_on_sighup) {
    // --log-format json --log-file F: one object per line with the fixed keys; logrotate moves
    // F away and sends SIGHUP: the next lines go to a new F.
    temp_dir dir;
    const std::string path = dir.path + "/s.sock", log = dir.path + "/milter.log", rotated = dir.path + "/milter.log.1";
    child p{spawn_program(SENDER_BLOCK_BINARY, {"--listen", "unix:" + path, "--log-format", "json", "--log-file", log,
                                                "--log-level", "info", "--block", "x.example"})};
    BOOST_TEST_REQUIRE(eventually([&] { return std::filesystem::is_socket(path) || !p.running(); }, 5s));
    BOOST_TEST_REQUIRE(std::filesystem::is_socket(path), "sender_block did not start: " << describe(p.status));
    auto read = [](const std::string& file) {
        std::ifstream in{file};
        return std::string{std::istreambuf_iterator<char>{in}, {}};
    };
    const std::string first = read(log);
    BOOST_TEST(first.starts_with("{\"time\":\""), first);
    BOOST_TEST(first.find(R"(","level":"info","program":"sender_block","pid":)" + std::to_string(p.pid) +
                          R"(,"connection":null,"event":"listening","message":"listening on unix:)") != std::string::npos,
               first);
    BOOST_TEST(first.find(R"("fields":{"address":"unix:)" + path + "\"}}\n") != std::string::npos, first);

    std::filesystem::rename(log, rotated);
    BOOST_TEST_REQUIRE(::kill(p.pid, SIGHUP) == 0);
    BOOST_TEST_REQUIRE(eventually([&] { return read(log).find(R"("event":"reloaded")") != std::string::npos; }, 5s),
                       "nothing in the reopened log: " << read(log) << " / rotated: " << read(rotated));
    BOOST_TEST(read(rotated).find("reloaded") == std::string::npos);
    BOOST_TEST_REQUIRE(::kill(p.pid, SIGTERM) == 0);
    const auto status = p.wait_exit(5s);
    BOOST_TEST_REQUIRE(status.has_value());
    BOOST_TEST(describe(*status) == "exit 0");
    BOOST_TEST(read(log).find(R"("event":"stopped")") != std::string::npos, read(log));
}

BOOST_AUTO_TEST_CASE(settings_errors_at_start) {
    // The command line and the config file name the option; a refused value exits 78 (EX_CONFIG),
    // an unknown option or a bad duration 64 (EX_USAGE); --help lists the milter's options.
    temp_dir dir;
    const std::string config = dir.path + "/c.conf";
    std::ofstream{config} << "block = ok.example\nbogus = 1\n";
    const std::tuple<std::vector<std::string>, std::string, std::string> cases[] = {
        {{"--block", "not a domain"}, "exit 78", "--block: 'not a domain' is not a domain"},
        {{"--config", dir.path + "/missing.conf"}, "exit 78", "missing.conf: cannot be read"},
        {{"--config", config}, "exit 78", "unrecognised option 'bogus'"},
        {{"--blok", "x.example"}, "exit 64", "--blok"},
    };
    for (const auto& [args, status, named] : cases) {
        BOOST_TEST_CONTEXT("sender_block " << args.front() << " " << args.back()) {
            process_result r = run_program(SENDER_BLOCK_BINARY, args);
            BOOST_TEST(describe(r.status) == status);
            BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, "stderr: " << r.err);
            BOOST_TEST(r.err.starts_with("sender_block: "), "stderr: " << r.err);
            BOOST_TEST(r.err.find(named) != std::string::npos, "stderr: " << r.err);
        }
    }
    const auto help = run_program(SENDER_BLOCK_BINARY, {"--help"});
    BOOST_TEST(describe(help.status) == "exit 0");
    BOOST_TEST(help.out.find("milter options:\n  --block DOMAIN") != std::string::npos, help.out);
    BOOST_TEST(help.out.find("--config FILE") != std::string::npos, help.out);
}

BOOST_AUTO_TEST_CASE(command_line) {
    // Every argument error: exit 64 (EX_USAGE), one line on stderr that names the option.
    const std::pair<std::vector<std::string>, std::string> usage_errors[] = {
        {{"--bogus"}, "--bogus"},
        {{"--listen", "foo:bar"}, "--listen: foo:bar: unknown kind 'foo'"},
        {{"--listen", "inet:127.0.0.1:0", "--listen", "unix:relative.sock"}, "--listen: unix:relative.sock: path"},
        {{"--write-timeout", "0"}, "--write-timeout: '0' is not a duration"},
    };
    for (const auto& [args, named] : usage_errors) {
        BOOST_TEST_CONTEXT("showcase " << args.back()) {
            const auto r = run_showcase(args);
            BOOST_TEST(describe(r.status) == "exit 64");
            BOOST_TEST(r.out.empty());
            BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, "stderr: " << r.err);
            BOOST_TEST(r.err.starts_with("showcase: "), "stderr: " << r.err);
            BOOST_TEST(r.err.find(named) != std::string::npos, "stderr: " << r.err);
        }
    }
    {
        const auto r = run_showcase({"--print-negotiation"});
        BOOST_TEST(describe(r.status) == "exit 0");
        BOOST_TEST(r.out.starts_with("actions:  ADDHDRS|"), "stdout: " << r.out);
        BOOST_TEST(r.out.find("\nprotocol: NOCONNECT|") != std::string::npos, "stdout: " << r.out);
        BOOST_TEST(r.err.empty(), "stderr: " << r.err);
    }
    {
        const auto r = run_showcase({"--help"});
        BOOST_TEST(describe(r.status) == "exit 0");
        BOOST_TEST(r.out.starts_with("usage: showcase"), "stdout: " << r.out.substr(0, 200));
        BOOST_TEST(r.out.find("--listen") != std::string::npos);
        BOOST_TEST(r.err.empty(), "stderr: " << r.err);
    }
}

BOOST_AUTO_TEST_SUITE_END()
