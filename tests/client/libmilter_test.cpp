// The MTA-side client library (cppmilter::client) against Sendmail's libmilter: a small C milter
// (libmilter_stamp.c) runs as a child process on a UNIX socket in a temporary directory; the
// tests negotiate with the Postfix, Sendmail and version-2 offers, deliver messages and apply
// every modification libmilter sends. A milter that does not start fails every test: CMake
// registers these tests only where libmilter was found (and CI requires it).
#define BOOST_TEST_MODULE cppmilter client against libmilter
#include <boost/test/unit_test.hpp>

#include <cppmilter/client/client.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace cl = cppmilter::client;
namespace proto = cppmilter::proto;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr const char* stamp_binary = CPPMILTER_LIBMILTER_STAMP;

/// libmilter_stamp listening on unix:<temp dir>/milter.sock, SIGTERM (then SIGKILL) at scope end.
class libmilter_process {
public:
    libmilter_process() {
        char name[] = "/tmp/cppmilter-libmilter-XXXXXX";
        if (::mkdtemp(name) == nullptr) {
            why_not_ = "no temporary directory";
            return;
        }
        dir_ = name;
        const std::string socket = dir_ + "/milter.sock";
        address_ = "unix:" + socket;
        std::string arg0 = stamp_binary, arg1 = address_;
        char* argv[] = {arg0.data(), arg1.data(), nullptr};
        if (::posix_spawn(&pid_, stamp_binary, nullptr, nullptr, argv, environ) != 0) {
            pid_ = -1;
            why_not_ = std::string{"cannot start "} + stamp_binary;
            return;
        }
        // Wait (bounded) for the socket file; give up early if the milter exited.
        const auto deadline = clock_type::now() + 10s;
        while (!std::filesystem::is_socket(socket)) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                why_not_ = "libmilter_stamp exited at start (status " + std::to_string(status) + ")";
                return;
            }
            if (clock_type::now() > deadline) {
                why_not_ = "libmilter_stamp did not create its socket within 10 s";
                return;
            }
            std::this_thread::sleep_for(10ms);
        }
        // libmilter binds (creating the file) before it listens: wait until a connect succeeds.
        for (;;) {
            try {
                cl::blocking_client probe{};
                probe.connect(address_);
                break;
            } catch (const cl::client_error&) {
                if (clock_type::now() > deadline) {
                    why_not_ = "libmilter_stamp did not accept connections within 10 s";
                    return;
                }
                std::this_thread::sleep_for(10ms);
            }
        }
    }
    ~libmilter_process() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            const auto deadline = clock_type::now() + 3s;
            int status = 0;
            while (::waitpid(pid_, &status, WNOHANG) == 0) {
                if (clock_type::now() > deadline) {
                    ::kill(pid_, SIGKILL);
                    ::waitpid(pid_, &status, 0);
                    break;
                }
                std::this_thread::sleep_for(10ms);
            }
        }
        if (!dir_.empty()) {
            std::error_code ignored;
            std::filesystem::remove_all(dir_, ignored);
        }
    }
    libmilter_process(const libmilter_process&) = delete;
    libmilter_process& operator=(const libmilter_process&) = delete;

    /// Empty when the milter runs; otherwise why it does not.
    const std::string& why_not() const { return why_not_; }
    const std::string& address() const { return address_; }

private:
    std::string dir_;
    std::string address_;
    std::string why_not_;
    pid_t pid_ = -1;
};

/// Ends the test case, failed, if the milter does not run.
void require_running(const libmilter_process& p) {
    BOOST_TEST_REQUIRE(p.why_not().empty(), "libmilter_stamp is not running: " << p.why_not());
}

/// A client_error that says the milter closed the connection (not a timeout, not a refused
/// connect, not a garbled answer).
bool closed_by_the_milter(const cl::client_error& e) {
    BOOST_TEST_MESSAGE("client_error: " << e.what());
    return std::string_view{e.what()}.find("the milter closed the connection") != std::string_view::npos;
}

cl::client_options quick(proto::optneg offer = cl::postfix_offer()) {
    cl::client_options o;
    o.offer = offer;
    o.command_timeout = 10s;
    o.content_timeout = 10s;
    return o;
}

cl::message make_message(const std::string& extra_headers, std::vector<std::string> rcpts = {"<bob@example.test>"},
                         std::string from = "<alice@example.test>") {
    cl::message m = cl::parse_rfc5322("Subject: plain\n" + extra_headers + "From: alice@example.test\n\nHello.\n");
    m.sender = std::move(from);
    m.recipients = std::move(rcpts);
    return m;
}

std::optional<std::string> header_of(const cl::message& m, std::string_view name) {
    for (const auto& [n, v] : m.headers)
        if (n == name) return v;
    return std::nullopt;
}

constexpr std::string_view plain_eom = R"(ADDHEADER name="X-Libmilter" value="1"; CONTINUE)";
/// What libmilter_stamp sends at the end of a message with "X-Do: all", in its order.
constexpr std::string_view all_eom =
    R"(ADDHEADER name="X-Libmilter" value="1"; REPLBODY 10 bytes "new body\r\n"; )"
    R"(ADDRCPT rcpt="<added@example.test>"; DELRCPT rcpt="<gone@example.test>"; )"
    R"(CHGFROM sender="<new@example.test>"; CHGHEADER index=1 name="Subject" value="changed"; )"
    R"(INSHEADER index=0 name="X-First" value="1"; QUARANTINE reason="held"; CONTINUE)";

} // namespace

BOOST_AUTO_TEST_SUITE(client_libmilter)

BOOST_AUTO_TEST_CASE(negotiates_with_postfix_and_sendmail_offers) {
    libmilter_process milter;
    require_running(milter);
    for (const auto& [name, offer] : {std::pair{"postfix", cl::postfix_offer()}, std::pair{"sendmail", cl::sendmail_offer()}}) {
        BOOST_TEST_CONTEXT(name) {
            cl::blocking_client c{quick(offer)};
            c.connect(milter.address());
            const auto& n = c.negotiate();
            BOOST_TEST_MESSAGE(name << ": version " << n.version << ", actions " << proto::to_string(n.actions)
                                    << ", protocol " << proto::to_string(n.protocol));
            BOOST_TEST(n.version == 6u);
            BOOST_TEST(proto::to_string(n.actions) == "ADDHDRS|CHGBODY|ADDRCPT|DELRCPT|CHGHDRS|QUARANTINE|CHGFROM");
            // Exactly the callbacks libmilter_stamp leaves NULL are switched off; every other
            // one answers (no NR_* bit).
            BOOST_TEST(proto::to_string(n.protocol) == "NOUNKNOWN|NODATA");
            c.quit();
        }
    }
}

BOOST_AUTO_TEST_CASE(every_event_of_a_plain_message) {
    libmilter_process milter;
    require_running(milter);
    cl::blocking_client c{quick()};
    std::vector<std::string> trace;
    c.trace = [&](std::string_view line) { trace.emplace_back(line); };
    c.connect(milter.address());
    c.negotiate();
    BOOST_TEST(c.connect_info("client.example", proto::address_family::inet, 25, "192.0.2.1") == "CONTINUE");
    BOOST_TEST(c.helo("client.example") == "CONTINUE");
    BOOST_TEST(c.mail_from("<alice@example.test>", {"SIZE=100"}) == "CONTINUE");
    BOOST_TEST(c.rcpt("<bob@example.test>") == "CONTINUE");
    BOOST_TEST(c.data() == "(not sent)");
    BOOST_TEST(c.header("Subject", "plain") == "CONTINUE");
    BOOST_TEST(c.end_of_headers() == "CONTINUE");
    BOOST_TEST(c.body("Hello.\r\n") == "CONTINUE");
    BOOST_TEST(c.unknown("HELP") == "(not sent)");
    BOOST_TEST(c.end_of_message().all == plain_eom);
    c.abort();
    c.quit();
    for (const auto& line : trace) BOOST_TEST_MESSAGE(line);
}

BOOST_AUTO_TEST_CASE(blocked_sender_gets_the_reply_code) {
    libmilter_process milter;
    require_running(milter);
    cl::blocking_client c{quick()};
    c.connect(milter.address());
    c.negotiate();
    c.connect_info("client.example", proto::address_family::inet, 25, "192.0.2.1");
    c.helo("client.example");
    const auto a = c.mail_from("<eve@blocked.example>");
    BOOST_TEST_MESSAGE("blocked MAIL: " << a);
    BOOST_TEST(a == R"(REPLYCODE text="550 5.7.1 blocked by libmilter")");

    c.quit();
    // The same through deliver() on a new connection: rejected at MAIL.
    c = cl::blocking_client{quick()};
    c.connect(milter.address());
    c.negotiate();
    const auto d = cl::deliver(c, cl::session_info{}, make_message("", {"<bob@example.test>"}, "<eve@blocked.example>"));
    BOOST_TEST(cl::to_string(d.result) == "rejected");
    BOOST_TEST(d.decided_at == "MAIL");
    BOOST_TEST(d.verdict == R"(REPLYCODE text="550 5.7.1 blocked by libmilter")");
    c.quit();
}

BOOST_AUTO_TEST_CASE(every_modification_decoded_and_applied) {
    libmilter_process milter;
    require_running(milter);
    for (const auto& [name, offer] : {std::pair{"postfix", cl::postfix_offer()}, std::pair{"sendmail", cl::sendmail_offer()}}) {
        BOOST_TEST_CONTEXT(name) {
            auto o = quick(offer);
            o.postfix_macros = name == std::string_view{"postfix"};
            cl::blocking_client c{o};
            c.connect(milter.address());
            c.negotiate();
            const auto m = make_message("X-Do: all\n", {"<bob@example.test>", "<gone@example.test>"});
            const auto d = cl::deliver(c, cl::session_info{}, m);
            c.quit();
            BOOST_TEST_MESSAGE(name << " end of message: " << d.eom.all);
            BOOST_TEST(cl::to_string(d.result) == "accepted");
            BOOST_TEST(d.eom.all == all_eom);
            const auto& out = d.modified;
            BOOST_TEST(out.body == "new body\r\n");
            BOOST_TEST(out.sender == "<new@example.test>");
            BOOST_TEST((out.recipients == std::vector<std::string>{"<bob@example.test>", "<added@example.test>"}));
            BOOST_TEST(header_of(out, "Subject").value_or("") == "changed");
            BOOST_TEST_REQUIRE(!out.headers.empty());
            BOOST_TEST(out.headers.front().first == "X-First");
            BOOST_TEST(out.headers.front().second == "1");
            BOOST_TEST(out.headers.back().first == "X-Libmilter");
            BOOST_TEST((out.quarantine == std::vector<std::string>{"held"}));
            BOOST_TEST(cl::to_rfc5322(out) ==
                       "X-First: 1\r\nSubject: changed\r\nX-Do: all\r\nFrom: alice@example.test\r\nX-Libmilter: 1\r\n"
                       "\r\nnew body\r\n");
        }
    }
}

BOOST_AUTO_TEST_CASE(several_messages_on_one_connection) {
    libmilter_process milter;
    require_running(milter);
    cl::blocking_client c{quick()};
    c.trace = [](std::string_view line) { BOOST_TEST_MESSAGE(line); };
    c.connect(milter.address());
    c.negotiate();
    // deliver() sends CONNECT and HELO each time, as a new SMTP session would; here the events
    // go by hand: one SMTP session, four messages, state reset between them.
    BOOST_TEST(c.connect_info("client.example", proto::address_family::inet, 25, "192.0.2.1") == "CONTINUE");
    BOOST_TEST(c.helo("client.example") == "CONTINUE");
    for (int i = 0; i < 4; ++i) {
        BOOST_TEST_CONTEXT("message " << i) {
            const bool blocked = i == 3, all = i == 1;
            const auto mail = c.mail_from(blocked ? "<x@blocked.example>" : "<alice@example.test>");
            if (blocked) {
                BOOST_TEST(mail == R"(REPLYCODE text="550 5.7.1 blocked by libmilter")");
                c.abort();
                continue;
            }
            BOOST_TEST(mail == "CONTINUE");
            BOOST_TEST(c.rcpt("<bob@example.test>") == "CONTINUE");
            BOOST_TEST(c.header("Subject", "n" + std::to_string(i)) == "CONTINUE");
            if (all) BOOST_TEST(c.header("X-Do", "all") == "CONTINUE");
            BOOST_TEST(c.end_of_headers() == "CONTINUE");
            BOOST_TEST(c.body("Hello " + std::to_string(i) + ".\r\n") == "CONTINUE");
            const auto eom = c.end_of_message();
            if (all)
                BOOST_TEST(eom.all == all_eom);
            else
                BOOST_TEST(eom.all == plain_eom); // X-Do of the previous message is forgotten
            c.abort();
        }
    }
    c.quit();
}

BOOST_AUTO_TEST_CASE(several_connections_at_once) {
    libmilter_process milter;
    require_running(milter);
    std::vector<cl::blocking_client> clients;
    for (int i = 0; i < 3; ++i) {
        clients.emplace_back(quick());
        clients.back().connect(milter.address());
        clients.back().negotiate();
    }
    for (auto& c : clients) {
        const auto d = cl::deliver(c, cl::session_info{}, make_message(""));
        BOOST_TEST(d.eom.all == plain_eom);
    }
    for (auto& c : clients) c.quit();
}

BOOST_AUTO_TEST_CASE(version_2_offer) {
    libmilter_process milter;
    require_running(milter);
    // libmilter refuses an offer without the actions the milter registered (v2 has no CHGFROM):
    // it logs "does not fulfill action requirements" and closes the connection.
    cl::blocking_client c{quick(cl::v2_offer())};
    c.connect(milter.address());
    BOOST_CHECK_EXCEPTION(c.negotiate(), cl::client_error, closed_by_the_milter);
}

BOOST_AUTO_TEST_CASE(version_2_offer_with_v6_actions_disabled) {
    libmilter_process milter;
    require_running(milter);
    // Version 2 with every action bit libmilter_stamp needs: libmilter answers version 2.
    auto offer = cl::v2_offer();
    offer.actions = proto::action_set::from_bits(0x7F);
    cl::blocking_client c{quick(offer)};
    c.connect(milter.address());
    const auto& n = c.negotiate();
    BOOST_TEST_MESSAGE("v2: version " << n.version << ", actions " << proto::to_string(n.actions) << ", protocol "
                                      << proto::to_string(n.protocol));
    BOOST_TEST(n.version == 2u);
    BOOST_TEST(proto::to_string(n.actions) == "ADDHDRS|CHGBODY|ADDRCPT|DELRCPT|CHGHDRS|QUARANTINE|CHGFROM");
    // The version 2 offer has no NOUNKNOWN or NODATA (later bits), and libmilter_stamp has a
    // callback for every stage it does offer to switch off: no bit at all.
    BOOST_TEST(n.protocol.empty());
    BOOST_TEST(c.connect_info("client.example", proto::address_family::inet, 25, "192.0.2.1") == "CONTINUE");
    BOOST_TEST(c.helo("client.example") == "CONTINUE");
    BOOST_TEST(c.mail_from("<alice@example.test>") == "CONTINUE");
    BOOST_TEST(c.rcpt("<bob@example.test>") == "CONTINUE");
    BOOST_TEST(c.data() == "(not sent)");
    BOOST_TEST(c.header("X-Do", "all") == "CONTINUE");
    BOOST_TEST(c.end_of_headers() == "CONTINUE");
    BOOST_TEST(c.body("Hello.\r\n") == "CONTINUE");
    const auto eom = c.end_of_message();
    BOOST_TEST_MESSAGE("v2 end of message: " << eom.all);
    BOOST_TEST(eom.all == all_eom);
    c.quit();
}

BOOST_AUTO_TEST_SUITE_END()
