// The webhook milter (examples/webhook.hpp) in-process: cm::testing::harness plays Postfix,
// the policy endpoint is tests/examples/webhook_server.py (started by http_test.cpp's
// policy_server()), reached over real HTTP and HTTPS.
#include "dkim_fake_dns.hpp"
#include "webhook.hpp"

#include <cppmilter/testing/harness.hpp>

#include <boost/test/unit_test.hpp>

// Boost.JSON compiled into this one file of the test program.
#include <boost/json/src.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <unistd.h>

namespace cm = cppmilter;
using cm::testing::harness;
using examples::webhook_settings;
namespace parts = examples::webhook_parts;
using namespace std::chrono_literals;

namespace webhook_test {
/// Where tests/examples/webhook_server.py listens (declared alike in http_test.cpp).
struct policy_ports {
    std::uint16_t http = 0, https = 0, https_wrong = 0;
    std::string ca, other_ca; ///< the CA that signed both certificates; a CA that signed neither
};
const policy_ports& policy_server();
} // namespace webhook_test

namespace {

using webhook_test::policy_server;

const std::string tempfail_text =
    "REPLYCODE text=\"451 4.7.1 policy check unavailable, try again later\"";

/// Settings that ask the test endpoint's `path` over HTTPS (our test CA), at `stage`.
webhook_settings at(std::string path, parts::ask_at stage = parts::ask_at::mail) {
    webhook_settings s;
    s.url = "https://127.0.0.1:" + std::to_string(policy_server().https) + path;
    s.ca_file = policy_server().ca;
    s.stage = stage;
    s.timeout = 5s;
    return s;
}

void use(webhook_settings s) {
    examples::webhook_options.set(std::move(s));
}

/// A connection up to MAIL FROM, with the macros Postfix sends.
struct session {
    harness<std::remove_cvref_t<decltype(examples::webhook)>> h{examples::webhook};
    explicit session(std::string_view helo = "client.example") {
        h.macros('C', {{"j", "mx.example.org"}, {"{daemon_name}", "smtpd"}});
        h.connect("client.example", "192.0.2.1", 54321);
        h.helo(helo);
    }
    cm::testing::answers mail(std::string_view from = "<alice@example.org>") {
        h.macros('M', {{"i", "4ABC123"}, {"{auth_authen}", "alice"}});
        return h.mail_from(from, {"SIZE=100", "BODY=8BITMIME"});
    }
};

/// The headers an answer adds, by name.
std::map<std::string, std::string> added(const cm::testing::answers& a) {
    std::map<std::string, std::string> out;
    for (const auto& r : a.replies())
        if (const auto* h = std::get_if<cm::proto::add_header>(&r))
            out[std::string{h->name}] = std::string{h->value};
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(webhook_verdicts)

BOOST_AUTO_TEST_CASE(each_action_becomes_its_verdict) {
    use(at("/reject"));
    session s;
    BOOST_TEST(s.mail() == "REPLYCODE text=\"550 5.7.1 no thanks\"");
    s.h.abort();
    use(at("/continue"));
    BOOST_TEST(s.mail() == "CONTINUE");
    s.h.abort();
    use(at("/accept"));
    BOOST_TEST(s.mail() == "ACCEPT");
    s.h.abort();
    use(at("/discard"));
    BOOST_TEST(s.mail() == "DISCARD");
    s.h.abort();
    use(at("/tempfail")); // no code, status or message: the defaults
    BOOST_TEST(s.mail() == "REPLYCODE text=\"451 4.7.1 policy unavailable, try again later\"");
}

BOOST_AUTO_TEST_CASE(at_rcpt_each_recipient_is_asked) {
    use(at("/reject", parts::ask_at::rcpt));
    session s;
    BOOST_TEST(s.mail() == "CONTINUE");
    BOOST_TEST(s.h.rcpt("<bob@example.net>") == "REPLYCODE text=\"550 5.7.1 no thanks\"");
    BOOST_TEST(s.h.rcpt("<carol@example.net>") == "REPLYCODE text=\"550 5.7.1 no thanks\"");
}

BOOST_AUTO_TEST_CASE(the_document_carries_connection_envelope_macros_and_headers) {
    auto settings = at("/echo", parts::ask_at::eom);
    settings.headers = {"Subject", "From"};
    use(settings);
    session s{"helo.example"};
    BOOST_TEST(s.mail() == "CONTINUE");
    s.h.rcpt("<bob@example.net>", {"NOTIFY=NEVER"});
    s.h.rcpt("<carol@example.net>");
    s.h.data();
    s.h.header("From", "Jörg <joerg@example.org>");
    s.h.header("Subject", "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\n and more");
    s.h.header("X-Other", "not chosen");
    s.h.end_of_headers();
    s.h.body("hello\r\n");
    s.h.macros('E', {{"i", "4ABC123"}});
    const auto a = s.h.end_of_message();
    const auto got = added(a);
    BOOST_TEST(got.at("X-Stage") == "eom");
    BOOST_TEST(got.at("X-Sender") == "<alice@example.org>");
    BOOST_TEST(got.at("X-Sender-Args") == "SIZE=100 BODY=8BITMIME");
    BOOST_TEST(got.at("X-Rcpts") == "<bob@example.net> <carol@example.net>");
    BOOST_TEST(got.at("X-Client") == "192.0.2.1 54321 client.example inet");
    BOOST_TEST(got.at("X-Helo") == "helo.example");
    BOOST_TEST(got.at("X-Macros") ==
               "i=4ABC123 j=mx.example.org {auth_authen}=alice {daemon_name}=smtpd");
    BOOST_TEST(got.at("X-Content-Type") == "application/json");
    BOOST_TEST(got.at("X-Auth") == "none");
    // The endpoint gets the decoded value (UTF-8) and the raw one; it echoes them back, and
    // the milter encodes what is not ASCII as encoded words.
    BOOST_TEST(cm::mail::decode_unstructured(cm::mail::unfold(got.at("X-Got-Subject"))) ==
               "Grüße and more");
    // (The echo of the raw value holds "=?", so the milter encodes it too: decoded, it is raw.)
    BOOST_TEST(cm::mail::decode_unstructured(cm::mail::unfold(got.at("X-Raw-Subject"))) ==
               "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=  and more");
    BOOST_TEST(cm::mail::decode_unstructured(cm::mail::unfold(got.at("X-Got-From"))) ==
               "Jörg <joerg@example.org>");
    BOOST_TEST(got.count("X-Got-X-Other") == 0u);
}

BOOST_AUTO_TEST_CASE(added_headers_with_non_ascii_are_encoded_and_bad_names_refused) {
    use(at("/headers-utf8", parts::ask_at::eom));
    session s;
    s.mail();
    const auto got = added(s.h.end_of_message());
    BOOST_TEST(got.at("X-Note") != "Grüße");
    BOOST_TEST(cm::mail::decode_unstructured(got.at("X-Note")) == "Grüße");
    s.h.abort();
    use(at("/bad-header-name", parts::ask_at::eom));
    s.mail();
    BOOST_TEST(s.h.end_of_message() == tempfail_text);
}

BOOST_AUTO_TEST_CASE(the_secret_header_comes_from_a_file) {
    const std::string path = "/tmp/webhook_test_auth_" + std::to_string(getpid());
    std::ofstream{path} << "Authorization: Bearer s3cret\n";
    auto settings = at("/echo", parts::ask_at::eom);
    settings.auth_header_file = path;
    use(settings);
    std::remove(path.c_str()); // read by check(): the file is not needed after
    session s;
    s.mail();
    BOOST_TEST(added(s.h.end_of_message()).at("X-Auth") == "Bearer s3cret");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(webhook_failures)

BOOST_AUTO_TEST_CASE(every_failure_gets_the_on_error_verdict) {
    const auto& p = policy_server();
    std::vector<webhook_settings> failing;
    for (const char* path : {"/status500", "/garbage", "/big", "/close", "/bad-code", "/nowhere"})
        failing.push_back(at(path));
    auto slow = at("/slow");
    slow.timeout = 300ms;
    failing.push_back(slow);
    auto wrong_name = at("/continue");
    wrong_name.url = "https://127.0.0.1:" + std::to_string(p.https_wrong) + "/continue";
    failing.push_back(wrong_name);
    auto untrusted = at("/continue");
    untrusted.ca_file = p.other_ca;
    failing.push_back(untrusted);
    auto refused = at("/continue");
    refused.url = "http://127.0.0.1:1/";
    failing.push_back(refused);
    failing.push_back(at("/echo")); // add_headers at MAIL FROM: only end of message may add
    for (auto& s : failing) {
        BOOST_TEST_CONTEXT(s.url) {
            use(s);
            session m;
            BOOST_TEST(m.mail() == tempfail_text);
        }
    }
    use(at("/continue")); // and back: the endpoint answers again
    session ok;
    BOOST_TEST(ok.mail() == "CONTINUE");
}

BOOST_AUTO_TEST_CASE(the_url_may_name_its_host) {
    // fake_dns.py answers for the endpoint's name; the certificate names it too.
    cm::test::fake_dns dns{"policy.example.test A 127.0.0.1\n"};
    auto named = at("/reject");
    named.url = "https://policy.example.test:" + std::to_string(policy_server().https) + "/reject";
    named.dns_servers = {dns.server()};
    use(named);
    BOOST_TEST(session{}.mail() == "REPLYCODE text=\"550 5.7.1 no thanks\"");

    // A name that does not exist: --on-error, at once.
    auto absent = named;
    absent.url = "https://absent.example.test:" + std::to_string(policy_server().https) + "/reject";
    use(absent);
    BOOST_TEST(session{}.mail() == tempfail_text);
    absent.on_error = parts::on_error_verdict::accept;
    use(absent);
    BOOST_TEST(session{}.mail() == "CONTINUE");

    // A name server that never answers: --on-error within --request-timeout.
    cm::test::fake_dns silent{"policy.example.test A 127.0.0.1\n", true};
    auto unanswered = named;
    unanswered.dns_servers = {silent.server()};
    unanswered.timeout = 400ms;
    use(unanswered);
    const auto started = std::chrono::steady_clock::now();
    BOOST_TEST(session{}.mail() == tempfail_text);
    const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - started)
                             .count();
    BOOST_TEST(took_ms < 3000);
    use(at("/continue"));
}

/// What the log (stderr) gets while it lives.
struct stderr_capture {
    std::string path = "/tmp/webhook_test_log_" + std::to_string(getpid());
    int saved = dup(2);
    stderr_capture() {
        const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        close(fd);
    }
    ~stderr_capture() {
        dup2(saved, 2);
        close(saved);
        std::remove(path.c_str());
    }
    std::string text() const {
        std::ifstream in{path};
        std::stringstream out;
        out << in.rdbuf();
        return out.str();
    }
};

std::size_t count(const std::string& text, std::string_view what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

BOOST_AUTO_TEST_CASE(an_outage_is_logged_once_and_its_end_once) {
    parts::endpoint_failing = false;
    std::string log;
    {
        stderr_capture capture;
        use(at("/status500"));
        for (int i = 0; i < 3; ++i)
            BOOST_TEST(session{}.mail() == tempfail_text);
        use(at("/continue"));
        for (int i = 0; i < 2; ++i)
            BOOST_TEST(session{}.mail() == "CONTINUE");
        use(at("/garbage"));
        BOOST_TEST(session{}.mail() == tempfail_text);
        log = capture.text();
    }
    BOOST_TEST_MESSAGE(log);
    BOOST_TEST(count(log, "webhook: the endpoint gives no usable answer") == 2u); // two outages
    BOOST_TEST(count(log, "reason=HTTP status 500") == 1u);
    BOOST_TEST(count(log, "reason=the answer is not JSON") == 1u);
    BOOST_TEST(count(log, "webhook: the endpoint answers again") == 1u);
    use(at("/continue"));
    BOOST_TEST(session{}.mail() == "CONTINUE");
}

BOOST_AUTO_TEST_CASE(on_error_chooses_the_verdict) {
    auto s = at("/garbage");
    s.on_error = parts::on_error_verdict::accept;
    use(s);
    session a;
    BOOST_TEST(a.mail() == "CONTINUE");
    s.on_error = parts::on_error_verdict::reject;
    use(s);
    session r;
    BOOST_TEST(r.mail() == "REPLYCODE text=\"550 5.7.1 policy check failed\"");
}

BOOST_AUTO_TEST_CASE(a_message_keeps_the_settings_of_its_mail_from) {
    use(at("/continue", parts::ask_at::eom));
    session s;
    s.mail();
    use(at("/reject", parts::ask_at::mail)); // a reload in the middle of the message
    BOOST_TEST(s.h.rcpt("<bob@example.net>") == "CONTINUE");
    BOOST_TEST(s.h.end_of_message() == "CONTINUE");
    s.h.abort();
    BOOST_TEST(s.mail() == "REPLYCODE text=\"550 5.7.1 no thanks\"");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(webhook_answers)

BOOST_AUTO_TEST_CASE(answers_are_checked) {
    using parts::ask_at;
    auto verdict_of = [](std::string_view body, ask_at stage = ask_at::mail) {
        return parts::parse_answer(body, stage).verdict.to_reply();
    };
    BOOST_TEST(
        parts::parse_answer(R"({"action":"continue","extra":1})", ask_at::mail).verdict.is_next());
    const auto r = parts::parse_answer(
        R"({"action":"reject","code":554,"status":"5.7.0","message":"100% spam"})", ask_at::mail);
    BOOST_TEST(r.verdict.reply_text() == "554 5.7.0 100%% spam");
    (void)verdict_of;
    for (std::string_view bad :
         {R"([1,2])",
          R"({"code":550})",
          R"({"action":"maybe"})",
          R"({"action":5})",
          R"({"action":"reject","code":250})",
          R"({"action":"reject","code":451})",
          R"({"action":"tempfail","code":550})",
          R"({"action":"reject","status":"4.7.1"})",
          R"({"action":"reject","status":"5.x.1"})",
          R"({"action":"reject","code":"550"})",
          R"({"action":"continue","code":550})",
          R"({"action":"reject","message":"two\nlines"})",
          R"({"action":"reject","message":"caf\u00e9"})",
          R"({"action":"continue","add_headers":{}})",
          R"({"action":"reject","add_headers":[{"name":"X","value":"y"}]})",
          R"({"action":"continue","add_headers":[{"name":"X"}]})",
          R"({"action":"continue","add_headers":[{"name":"X:Y","value":"y"}]})",
          R"({"action":"continue","add_headers":[{"name":"X","value":"a\r\nB: c"}]})",
          "",
          "{"}) {
        BOOST_TEST_CONTEXT(bad) {
            BOOST_CHECK_THROW(parts::parse_answer(bad, ask_at::eom), parts::bad_answer);
        }
    }
    const std::string long_message =
        R"({"action":"reject","message":")" + std::string(401, 'x') + "\"}";
    BOOST_CHECK_THROW(parts::parse_answer(long_message, ask_at::mail), parts::bad_answer);
    // add_headers only at end of message.
    BOOST_CHECK_THROW(
        parts::parse_answer(R"({"action":"continue","add_headers":[{"name":"X","value":"y"}]})",
                            ask_at::mail),
        parts::bad_answer);
    BOOST_TEST(parts::parse_answer(
                   R"({"action":"continue","add_headers":[{"name":"X","value":"y"}]})", ask_at::eom)
                   .add_headers.size() == 1u);
}

BOOST_AUTO_TEST_CASE(settings_are_checked) {
    auto refused = [](webhook_settings s) {
        try {
            s.check();
        } catch (const cm::settings_error& e) {
            BOOST_TEST_MESSAGE(e.what());
            return std::string{e.what()};
        }
        return std::string{};
    };
    BOOST_TEST(refused(webhook_settings{}) == "--url: none given; the policy endpoint is needed");
    auto s = at("/x");
    s.url = "gopher://x";
    BOOST_TEST(refused(s) == "--url: 'gopher://x': not an http:// or https:// URL");
    s = at("/x");
    s.headers = {"Subject"};
    BOOST_TEST(refused(s) == "--header: headers are only known at --stage eom");
    s = at("/x", parts::ask_at::eom);
    s.headers = {"Bad Name"};
    BOOST_TEST(refused(s) == "--header: 'Bad Name' is not a header field name");
    s = at("/x");
    s.auth_header_file = "/nonexistent/secret";
    BOOST_TEST(refused(s).starts_with("--auth-header-file /nonexistent/secret: cannot be read"));
    s = at("/x");
    s.ca_file = "/nonexistent/ca.pem";
    BOOST_TEST(refused(s).starts_with("--ca-file: CA file /nonexistent/ca.pem: cannot be loaded"));
    s = at("/x");
    s.connect_to = "name.example";
    BOOST_TEST(refused(s).starts_with("--connect-to: "));
    s = at("/x");
    s.dns_servers = {"127.0.0.1:53", "not an address"};
    BOOST_TEST(refused(s).starts_with("--dns-server: 'not an address': "));
    s.dns_servers = {"127.0.0.1:5353", "[::1]:53"};
    BOOST_TEST(refused(s).empty());
    BOOST_TEST(refused(at("/x")).empty());
}

BOOST_AUTO_TEST_SUITE_END()
