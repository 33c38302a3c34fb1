// The audit milter (examples/audit.hpp) in-process: cm::testing::harness plays Postfix, the
// lines go to a file the test reads back.
#define BOOST_TEST_MODULE cppmilter audit example
#include "audit.hpp"

#include <cppmilter/testing/harness.hpp>

#include <boost/test/unit_test.hpp>

// Boost.JSON compiled into this one file of the test program.
#include <boost/json/src.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace cm = cppmilter;
namespace json = boost::json;
using cm::testing::harness;
using examples::audit_settings;

namespace {

using audit_harness = harness<std::remove_cvref_t<decltype(examples::audit)>>;

static_assert(std::remove_cvref_t<decltype(examples::audit)>::negotiation.actions.empty(),
              "audit modifies nothing");

/// A fresh output file for one test, removed after.
struct output_file {
    std::string path =
        "/tmp/audit_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + ".json";
    explicit output_file(std::vector<std::string> headers = {}) {
        audit_settings s;
        s.output = path;
        s.headers = std::move(headers);
        examples::audit_options.set(std::move(s));
    }
    ~output_file() { std::filesystem::remove(path); }
    /// Every line written so far, parsed.
    std::vector<json::object> lines() const {
        std::ifstream in{path};
        std::vector<json::object> out;
        for (std::string line; std::getline(in, line);)
            out.push_back(json::parse(line).as_object());
        return out;
    }
    static inline int counter = 0;
};

std::string text(const json::value& v) {
    return std::string{v.as_string()};
}

void connect(audit_harness& h) {
    h.connect("client.example", "192.0.2.1", 54321);
    h.macros('H', {{"{tls_version}", "TLSv1.3"},
                   {"{cipher}", "TLS_AES_256_GCM_SHA384"},
                   {"{cipher_bits}", "256"}});
    h.helo("helo.example");
}

} // namespace

BOOST_AUTO_TEST_SUITE(audit_lines)

BOOST_AUTO_TEST_CASE(a_message_gives_one_line_with_every_field) {
    output_file out;
    audit_harness h{examples::audit};
    connect(h);
    h.macros('M', {{"i", "4XYZ"}, {"{auth_authen}", "alice"}, {"{auth_type}", "PLAIN"}});
    BOOST_TEST(h.mail_from("<alice@example.org>") == "(no answer)");
    BOOST_TEST(h.rcpt("<bob@example.net>") == "(no answer)");
    h.rcpt("<carol@example.net>");
    h.data();
    h.header("From", "=?ISO-8859-1?Q?J=F6rg?= <joerg@example.org>");
    h.header("To", "bob@example.net");
    h.header("Subject", "caf\xe9 8-bit, not UTF-8");
    h.header("Received", "from somewhere");
    h.header("Subject", "=?UTF-8?B?R3LDvMOfZQ==?=\n second line");
    h.end_of_headers();
    h.body(std::string(70000, 'x'));
    h.body("tail\r\n");
    h.macros('E', {{"i", "4XYZ"}});
    BOOST_TEST(h.end_of_message() == "CONTINUE"); // the protocol answers end of message always
    h.abort();                                    // Postfix's ABORT after it: no second line

    const auto lines = out.lines();
    BOOST_REQUIRE_EQUAL(lines.size(), 1u);
    const auto& l = lines[0];
    BOOST_TEST(l.at("connection").to_number<std::uint64_t>() >= 1u);
    BOOST_TEST(l.at("message").to_number<std::uint64_t>() == 1u);
    BOOST_TEST(text(l.at("client_address")) == "192.0.2.1");
    BOOST_TEST(l.at("client_port").to_number<std::uint64_t>() == 54321u);
    BOOST_TEST(text(l.at("client_name")) == "client.example");
    BOOST_TEST(text(l.at("helo")) == "helo.example");
    BOOST_TEST(text(l.at("tls").at("version")) == "TLSv1.3");
    BOOST_TEST(text(l.at("tls").at("cipher")) == "TLS_AES_256_GCM_SHA384");
    BOOST_TEST(text(l.at("tls").at("bits")) == "256");
    BOOST_TEST(text(l.at("auth_user")) == "alice");
    BOOST_TEST(text(l.at("auth_type")) == "PLAIN");
    BOOST_TEST(text(l.at("queue_id")) == "4XYZ");
    BOOST_TEST(text(l.at("sender")) == "<alice@example.org>");
    BOOST_TEST(json::serialize(l.at("recipients")) ==
               R"(["<bob@example.net>","<carol@example.net>"])");
    const auto& headers = l.at("headers").as_object();
    BOOST_TEST(json::serialize(headers.at("From")) == R"(["Jörg <joerg@example.org>"])");
    BOOST_TEST(json::serialize(headers.at("To")) == R"(["bob@example.net"])");
    // Two Subjects: 8-bit Latin-1 (not UTF-8: U+FFFD keeps the JSON valid), then one decoded
    // from RFC 2047 and unfolded.
    BOOST_TEST(json::serialize(headers.at("Subject")) ==
               "[\"caf\xef\xbf\xbd 8-bit, not UTF-8\",\"Grüße second line\"]");
    BOOST_TEST(!headers.contains("Received"));
    BOOST_TEST(!headers.contains("Message-ID")); // chosen, but absent
    BOOST_TEST(l.at("size").to_number<std::uint64_t>() == 70006u);
    BOOST_TEST(text(l.at("outcome")) == "end_of_message");
    const auto& t = l.at("timings_us").as_object();
    for (auto key : {"connect_to_mail", "first_rcpt", "data", "end_of_headers", "end"})
        BOOST_TEST(t.at(key).is_int64(), key);
    BOOST_TEST(text(l.at("time")).ends_with("Z"));
}

BOOST_AUTO_TEST_CASE(an_aborted_transaction_is_written_by_the_abort) {
    output_file out;
    audit_harness h{examples::audit};
    connect(h);
    h.mail_from("<alice@example.org>");
    h.rcpt("<bob@example.net>");
    h.abort(); // RSET, or the client gave up
    const auto lines = out.lines();
    BOOST_REQUIRE_EQUAL(lines.size(), 1u);
    BOOST_TEST(text(lines[0].at("outcome")) == "aborted");
    BOOST_TEST(json::serialize(lines[0].at("recipients")) == R"(["<bob@example.net>"])");
    BOOST_TEST(lines[0].at("timings_us").at("data").is_null());
    BOOST_TEST(lines[0].at("queue_id").is_null());
    BOOST_TEST(text(lines[0].at("tls").at("version")) == "TLSv1.3");
}

BOOST_AUTO_TEST_CASE(several_messages_on_one_connection_each_have_their_line) {
    output_file out{{"Subject"}};
    audit_harness h{examples::audit};
    connect(h);
    h.message("<a@example.org>", {"<x@example.net>"},
              {{"Subject", "first"}, {"From", "a@example.org"}}, "1\r\n");
    h.message("<b@example.org>", {"<y@example.net>"}, {{"Subject", "second"}}, "22\r\n");
    h.mail_from("<c@example.org>"); // a new MAIL without ABORT ends the last one too
    h.mail_from("<d@example.org>");
    h.rcpt("<z@example.net>");
    h.disconnect(); // the client vanished mid-message
    const auto lines = out.lines();
    BOOST_REQUIRE_EQUAL(lines.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) {
        BOOST_TEST(lines[i].at("connection") == lines[0].at("connection"));
        BOOST_TEST(lines[i].at("message").to_number<std::uint64_t>() == i + 1);
    }
    BOOST_TEST(text(lines[0].at("sender")) == "<a@example.org>");
    BOOST_TEST(json::serialize(lines[0].at("headers")) ==
               R"({"Subject":["first"]})"); // only the chosen one
    BOOST_TEST(lines[0].at("size").to_number<std::uint64_t>() == 3u);
    BOOST_TEST(text(lines[1].at("sender")) == "<b@example.org>");
    BOOST_TEST(json::serialize(lines[1].at("recipients")) ==
               R"(["<y@example.net>"])"); // not the first's
    BOOST_TEST(lines[1].at("size").to_number<std::uint64_t>() == 4u);
    BOOST_TEST(text(lines[2].at("sender")) == "<c@example.org>");
    BOOST_TEST(text(lines[2].at("outcome")) == "aborted");
    BOOST_TEST(text(lines[3].at("sender")) == "<d@example.org>");
    BOOST_TEST(text(lines[3].at("outcome")) == "aborted");
}

BOOST_AUTO_TEST_CASE(connections_are_numbered_apart) {
    output_file out;
    audit_harness one{examples::audit}, two{examples::audit};
    connect(one);
    connect(two);
    one.message("<a@example.org>", {"<x@example.net>"}, {}, "");
    two.message("<b@example.org>", {"<y@example.net>"}, {}, "");
    const auto lines = out.lines();
    BOOST_REQUIRE_EQUAL(lines.size(), 2u);
    BOOST_TEST(lines[0].at("connection") != lines[1].at("connection"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(audit_settings_check)

BOOST_AUTO_TEST_CASE(bad_settings_are_refused_in_one_line) {
    auto refused = [](audit_settings s) {
        try {
            s.check();
        } catch (const cm::settings_error& e) {
            return std::string{e.what()};
        }
        return std::string{};
    };
    audit_settings s;
    s.output = "/nonexistent/dir/audit.json";
    BOOST_TEST(refused(s) ==
               "--output /nonexistent/dir/audit.json: cannot be opened: No such file or directory");
    s = {};
    s.headers = {"Bad:Name"};
    BOOST_TEST(refused(s) == "--header: 'Bad:Name' is not a header field name");
    s = {};
    BOOST_TEST(refused(s).empty()); // stdout
    s.check();
    BOOST_TEST(s.chosen_headers ==
                   (std::vector<std::string>{"From", "To", "Subject", "Message-ID", "Date"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
