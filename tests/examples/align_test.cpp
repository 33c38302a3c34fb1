// The align example (examples/align.hpp) through the harness, which plays Postfix: every rule,
// every option, what it asks of the MTA, and its log lines.
#define BOOST_TEST_MODULE align example
#include "align.hpp"

#include <cppmilter/asio/log.hpp>
#include <cppmilter/asio/options.hpp>
#include <cppmilter/testing/harness.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unistd.h>
#include <utility>
#include <vector>

namespace cm = cppmilter;
namespace proto = cppmilter::proto;
using examples::align_options;
using mode = align_options::alignment_mode;
using null_sender = align_options::null_sender_rule;
using auth = align_options::auth_rule;

namespace {

using P = proto::protocol;
using align_type = std::remove_cvref_t<decltype(examples::align)>;

// What it asks of the MTA: headers (for From) without answering each, HELO and MAIL without
// answering them, nothing of the body, no modification; {auth_authen} at MAIL, the queue id at
// the end of the message.
constexpr cm::negotiation negotiated = align_type::negotiation;
static_assert(negotiated.actions.empty());
static_assert(negotiated.protocol.has(P::no_connect) && negotiated.protocol.has(P::no_rcpt) &&
              negotiated.protocol.has(P::no_data) &&
              negotiated.protocol.has(P::no_end_of_headers) &&
              negotiated.protocol.has(P::no_body) && negotiated.protocol.has(P::no_unknown));
static_assert(!negotiated.protocol.has(P::no_helo) && !negotiated.protocol.has(P::no_mail) &&
              !negotiated.protocol.has(P::no_headers));
static_assert(negotiated.protocol.has(P::no_reply_helo) &&
              negotiated.protocol.has(P::no_reply_mail) &&
              negotiated.protocol.has(P::no_reply_header));
static_assert(negotiated.macros[static_cast<std::size_t>(proto::macro_stage::mail)] ==
              "{auth_authen}");
static_assert(negotiated.macros[static_cast<std::size_t>(proto::macro_stage::end_of_message)] ==
              "i");

using header_list = std::vector<std::pair<std::string, std::string>>;

/// One SMTP transaction as Postfix hands it to the milter.
struct transaction {
    std::string helo = "mail.example.org"; ///< empty: the client sent no HELO/EHLO
    std::string sender = "<bounces@example.org>";
    std::optional<std::string> auth; ///< {auth_authen}, if the client logged in
    header_list headers = {{"From", "Alice <alice@example.org>"}, {"Subject", "hello"}};
    std::string queue_id = "4AbCdE1";
};

/// Sends `t` on `h`'s connection; returns the answer to the end of the message.
std::string send(cm::testing::harness<align_type>& h, const transaction& t) {
    // Postfix sends the MAIL macros before every MAIL: empty when nobody logged in.
    if (t.auth)
        h.macros('M', {{"{auth_authen}", *t.auth}});
    else
        h.macros('M', {});
    BOOST_TEST(h.mail_from(t.sender) == "(no answer)");
    BOOST_TEST(h.rcpt("<rcpt@example.net>") == "(not sent)");
    BOOST_TEST(h.data() == "(not sent)");
    for (const auto& [name, value] : t.headers)
        BOOST_TEST(h.header(name, value) == "(no answer)");
    BOOST_TEST(h.end_of_headers() == "(not sent)");
    BOOST_TEST(h.body("the body\r\n") == "(not sent)");
    h.macros('E', {{"i", t.queue_id}});
    auto answer = h.end_of_message().str();
    h.abort();
    return answer;
}

/// One connection, one message, with these options.
std::string verdict(const transaction& t, align_options options = {}) {
    examples::align_settings.set(std::move(options));
    cm::testing::harness h{examples::align};
    BOOST_TEST(h.connect() == "(not sent)");
    if (!t.helo.empty()) BOOST_TEST(h.helo(t.helo) == "(no answer)");
    return send(h, t);
}

transaction from_to(std::string from, std::string sender) {
    transaction t;
    t.headers = {{"From", std::move(from)}, {"Subject", "hello"}};
    t.sender = std::move(sender);
    return t;
}

const std::string accepted = "CONTINUE";
std::string refused(std::string_view text) {
    return "REPLYCODE text=\"550 5.7.1 " + std::string{text} + "\"";
}

align_options strict() {
    return {.mode = mode::strict};
}

/// Each test starts and ends with the default options.
struct default_options {
    default_options() { examples::align_settings.set({}); }
    ~default_options() { examples::align_settings.set({}); }
};

/// Collects what is written to stderr (where log_line writes) while it lives, at log level info.
class captured_log {
public:
    captured_log() : file_{std::tmpfile()}, saved_{::dup(2)} {
        BOOST_REQUIRE(file_ && saved_ >= 0);
        std::fflush(stderr);
        ::dup2(::fileno(file_), 2);
        cm::asio_server::set_log_level(cm::asio_server::log_level::info);
    }
    ~captured_log() {
        cm::asio_server::set_log_level(cm::asio_server::log_level::warning);
        ::dup2(saved_, 2);
        ::close(saved_);
        std::fclose(file_);
    }
    captured_log(const captured_log&) = delete;
    captured_log& operator=(const captured_log&) = delete;

    /// The lines written so far, without their "cppmilter[PID]: info: " prefix.
    std::vector<std::string> lines() const {
        std::vector<std::string> out;
        std::string all;
        char buffer[4096];
        std::rewind(file_);
        for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file_)) > 0;)
            all.append(buffer, n);
        for (std::size_t at = 0; at < all.size();) {
            auto end = all.find('\n', at);
            std::string line = all.substr(at, end - at);
            if (auto prefix = line.find(": info: "); prefix != std::string::npos)
                line.erase(0, prefix + 8);
            out.push_back(line);
            at = end == std::string::npos ? all.size() : end + 1;
        }
        return out;
    }

private:
    std::FILE* file_;
    int saved_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(align_domains)

BOOST_FIXTURE_TEST_CASE(the_same_domain_aligns_in_both_modes, default_options) {
    const auto t = from_to("Alice <alice@example.org>", "<bounces@example.org>");
    BOOST_TEST(verdict(t) == accepted);
    BOOST_TEST(verdict(t, strict()) == accepted);
    // Case does not matter, nor a trailing dot.
    const auto cased = from_to("alice@Example.ORG", "<bounces@EXAMPLE.org>");
    BOOST_TEST(verdict(cased, strict()) == accepted);
}

BOOST_FIXTURE_TEST_CASE(other_domains_are_refused_with_what_to_change, default_options) {
    const auto t = from_to("Alice <alice@example.org>", "<bounces@example.net>");
    BOOST_TEST(verdict(t) ==
               refused("From header domain example.org does not align with envelope sender domain "
                       "example.net (relaxed): the envelope sender domain must be example.org or a "
                       "subdomain of it"));
    BOOST_TEST(verdict(t, strict()) ==
               refused("From header domain example.org does not align with envelope sender "
                       "domain example.net (strict): the envelope sender domain must be "
                       "example.org"));
}

BOOST_FIXTURE_TEST_CASE(subdomains_align_only_when_relaxed, default_options) {
    const auto sub_from = from_to("alice@mail.example.org", "<bounces@example.org>");
    BOOST_TEST(verdict(sub_from) == accepted);
    BOOST_TEST(
        verdict(sub_from, strict()) ==
        refused("From header domain mail.example.org does not align with envelope sender domain "
                "example.org (strict): the envelope sender domain must be mail.example.org"));
    const auto sub_sender = from_to("alice@example.org", "<bounce-123@bounces.mail.example.org>");
    BOOST_TEST(verdict(sub_sender) == accepted);
    const auto both_sub = from_to("alice@news.example.org", "<b@bounces.example.org>");
    BOOST_TEST(verdict(both_sub) == accepted);
    BOOST_TEST(verdict(both_sub, strict()) != accepted);
    // Relaxed names the organisational domain in its advice.
    const auto other = from_to("alice@news.example.org", "<b@bounces.example.net>");
    BOOST_TEST(verdict(other) ==
               refused("From header domain news.example.org does not align with envelope sender "
                       "domain bounces.example.net (relaxed): the envelope sender domain must be "
                       "example.org or a subdomain of it"));
}

BOOST_FIXTURE_TEST_CASE(public_suffixes_are_never_shared, default_options) {
    // co.uk is a public suffix: a.co.uk and b.co.uk are two organisations.
    BOOST_TEST(verdict(from_to("x@a.co.uk", "<y@b.co.uk>")) ==
               refused("From header domain a.co.uk does not align with envelope sender domain "
                       "b.co.uk (relaxed): the "
                       "envelope sender domain must be a.co.uk or a subdomain of it"));
    BOOST_TEST(verdict(from_to("x@mail.a.co.uk", "<y@bounces.a.co.uk>")) == accepted);
    // The private section counts too: github.io hands out one domain per user.
    BOOST_TEST(verdict(from_to("x@alice.github.io", "<y@mallory.github.io>")) != accepted);
    BOOST_TEST(verdict(from_to("x@www.alice.github.io", "<y@alice.github.io>")) == accepted);
}

BOOST_FIXTURE_TEST_CASE(idna_u_labels_equal_their_a_labels, default_options) {
    BOOST_TEST(verdict(from_to("user@bücher.example", "<x@xn--bcher-kva.example>"), strict()) ==
               accepted);
    BOOST_TEST(verdict(from_to("user@XN--BCHER-KVA.example", "<x@BÜCHER.example>"), strict()) ==
               accepted);
    BOOST_TEST(verdict(from_to("user@mail.bücher.example", "<x@xn--bcher-kva.example>")) ==
               accepted);
    // Replies are ASCII: a U-label is shown as its A-label.
    BOOST_TEST(
        verdict(from_to("user@bücher.example", "<x@example.org>")) ==
        refused(
            "From header domain xn--bcher-kva.example does not align with envelope sender domain "
            "example.org (relaxed): the envelope sender domain must be xn--bcher-kva.example or a "
            "subdomain of it"));
}

BOOST_FIXTURE_TEST_CASE(domains_that_are_no_domain_names_are_refused, default_options) {
    BOOST_TEST(verdict(from_to("user@[192.0.2.1]", "<x@example.org>")) ==
               refused("From header domain '[192.0.2.1]' is no domain name: it needs one to align "
                       "with the envelope"));
    BOOST_TEST(
        verdict(from_to("user@example.org", "<x@[192.0.2.1]>")) ==
        refused(
            "envelope sender '<x@[192.0.2.1]>' has no domain name to align the From header domain "
            "example.org with"));
    BOOST_TEST(
        verdict(from_to("user@example.org", "<postmaster>")) ==
        refused("envelope sender '<postmaster>' has no domain name to align the From header domain "
                "example.org with"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(align_from)

BOOST_FIXTURE_TEST_CASE(display_names_and_comments_do_not_matter, default_options) {
    for (const char* from : {
             "=?UTF-8?B?w4lsb2TDqQ==?= <alice@example.org>", // encoded word
             "=?ISO-8859-1?Q?J=F6rg?= <alice@example.org>",
             "\"Doe, Jane\" <alice@example.org>",  // a comma in quotes: still one address
             "alice@example.org (Alice, at work)", // comment with a comma
             "(first) Alice (second) <alice(third)@(fourth)example.org> (fifth)",
             "Alice\n <alice@example.org>", // folded, as Postfix joins it
             "\tAlice <alice@example.org>",
             // An encoded word that decodes to an address is a display name, not the address.
             "=?UTF-8?Q?support=40bank=2Eexample_=3Cx=40bank=2Eexample=3E?= <alice@example.org>",
         }) {
        BOOST_TEST_CONTEXT("From: " << from) {
            BOOST_TEST(verdict(from_to(from, "<bounces@example.org>")) == accepted);
        }
    }
    // A '<' left raw in an encoded word (RFC 2047 §5 forbids it) starts an address: two here.
    BOOST_TEST(verdict(from_to("=?UTF-8?Q?support_<x@bank.example>?= <alice@example.org>",
                               "<bounces@example.org>")) ==
               refused("From header holds 2 addresses: exactly one is allowed"));
    // The display name does not make an unaligned address aligned.
    BOOST_TEST(
        verdict(from_to("\"alice@example.org\" <mallory@evil.example>", "<bounces@example.org>")) ==
        refused("From header domain evil.example does not align with envelope sender domain "
                "example.org "
                "(relaxed): the envelope sender domain must be evil.example or a subdomain of it"));
}

BOOST_FIXTURE_TEST_CASE(exactly_one_from_header, default_options) {
    transaction none;
    none.headers = {{"Subject", "no author"},
                    {"Sender", "alice@example.org"},
                    {"Resent-From", "alice@example.org"}};
    BOOST_TEST(verdict(none) ==
               refused("message has no From header: it needs exactly one, with one address"));

    transaction two;
    two.headers = {
        {"From", "alice@example.org"}, {"Subject", "two authors"}, {"from", "alice@example.org"}};
    BOOST_TEST(verdict(two) == refused("message has 2 From headers: exactly one is allowed"));
    two.headers.emplace_back("FROM", "mallory@evil.example");
    BOOST_TEST(verdict(two) == refused("message has 3 From headers: exactly one is allowed"));
}

BOOST_FIXTURE_TEST_CASE(exactly_one_address_in_it, default_options) {
    BOOST_TEST(verdict(from_to("alice@example.org, bob@example.org", "<bounces@example.org>")) ==
               refused("From header holds 2 addresses: exactly one is allowed"));
    BOOST_TEST(
        verdict(from_to("<alice@example.org> <mallory@evil.example>", "<bounces@example.org>")) ==
        refused("From header holds 2 addresses: exactly one is allowed"));
    BOOST_TEST(verdict(from_to("", "<bounces@example.org>")) ==
               refused("From header holds no address: it must hold exactly one"));
    BOOST_TEST(verdict(from_to(" (only a comment) ", "<bounces@example.org>")) ==
               refused("From header holds no address: it must hold exactly one"));
}

BOOST_FIXTURE_TEST_CASE(groups_are_refused, default_options) {
    for (const char* from : {"Team: alice@example.org;", "undisclosed-recipients:;",
                             "Team: alice@example.org, bob@example.org;"}) {
        BOOST_TEST_CONTEXT("From: " << from) {
            BOOST_TEST(verdict(from_to(from, "<bounces@example.org>")) ==
                       refused("From header is a group (name: ...;): it must be one address"));
        }
    }
}

BOOST_FIXTURE_TEST_CASE(unparseable_from_is_refused_with_the_reason, default_options) {
    BOOST_TEST(
        verdict(from_to("\"Alice <alice@example.org>", "<bounces@example.org>")) ==
        refused(
            "From header cannot be parsed (unterminated quoted string at offset 0): it must be one "
            "address, as in Name <user@example.org>"));
    BOOST_TEST(verdict(from_to("Alice <alice@example.org", "<bounces@example.org>")) ==
               refused("From header cannot be parsed ('<' without '>' at offset 6): it must be one "
                       "address, as in Name <user@example.org>"));
    BOOST_TEST(verdict(from_to("just some words", "<bounces@example.org>")) ==
               refused("From header cannot be parsed (local part without '@domain' at offset 15): "
                       "it must be one "
                       "address, as in Name <user@example.org>"));
}

BOOST_FIXTURE_TEST_CASE(eight_bit_garbage_gets_a_clear_verdict, default_options) {
    // Latin-1 in a display name (not UTF-8): the address is all that counts.
    BOOST_TEST(verdict(from_to("J\xf6rg <joerg@example.org>", "<bounces@example.org>")) ==
               accepted);
    // UTF-8 in the local part (RFC 6532) is fine too.
    BOOST_TEST(verdict(from_to("jörg@example.org", "<bounces@example.org>")) == accepted);
    // Latin-1 in the domain: no domain name; the reply shows the bytes as '?', never raw.
    BOOST_TEST(
        verdict(from_to("joerg@b\xfc"
                        "cher.example",
                        "<bounces@example.org>")) ==
        refused(
            "From header domain 'b?cher.example' is no domain name: it needs one to align with the "
            "envelope"));
    // Nothing but bytes: high bytes pass for UTF-8 words, the control character stops the parse.
    BOOST_TEST(verdict(from_to("\xff\xfe\x80\x81 \x01\x7f", "<bounces@example.org>")) ==
               refused("From header cannot be parsed (unexpected character at offset 5): it must "
                       "be one address, "
                       "as in Name <user@example.org>"));
    BOOST_TEST(verdict(from_to("\xff\xfe\x80\x81", "<bounces@example.org>")) ==
               refused("From header cannot be parsed (local part without '@domain' at offset 4): "
                       "it must be one "
                       "address, as in Name <user@example.org>"));
}

// Whatever the bytes, the verdict is a reply the protocol accepts: printable ASCII, one line.
BOOST_AUTO_TEST_CASE(any_bytes_give_a_valid_reply) {
    // Bits of addresses, and bytes that must never reach a reply as they are.
    // clang-format off
    const std::vector<std::string> pieces{
        "a", "@", "<", ">", "\"", "(", ")", ",", ":", ";", "[", "]", "\\", " ", "\n\t", ".", "=?", "?=",
        "example.org", "xn--", "bücher", "\xff", "\x80", "\x01", "\x7f", "\r", "%s%", "co.uk",
        "a@example.org", "b@mail.example.net"};
    // clang-format on
    std::mt19937 random{20261202}; // fixed: a failure can be replayed
    auto some_text = [&] {
        std::string out;
        for (auto n = random() % 12; n > 0; --n)
            out += pieces[random() % pieces.size()];
        return out;
    };
    for (const auto m : {mode::relaxed, mode::strict}) {
        const align_options options{.mode = m};
        for (int i = 0; i < 20000; ++i) {
            const std::string from = some_text(), sender = "<" + some_text() + ">",
                              helo = some_text();
            std::vector<std::string_view> fields{from};
            const auto failure =
                examples::align_parts::check(fields, random() % 4 ? sender : "<>", helo, options);
            if (!failure) continue;
            const bool printable =
                std::ranges::all_of(failure->reply, [](char c) { return c >= 0x20 && c <= 0x7e; });
            BOOST_TEST_REQUIRE(printable, failure->reply);
            BOOST_TEST_REQUIRE(failure->reply.size() < 980u);
            BOOST_CHECK_NO_THROW(cm::reply(550, "5.7.1", failure->reply));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(align_null_sender)

BOOST_FIXTURE_TEST_CASE(helo_stands_in_for_the_envelope_by_default, default_options) {
    transaction bounce = from_to("MAILER-DAEMON@mail.example.org", "<>");
    bounce.helo = "mx1.example.org";
    BOOST_TEST(verdict(bounce) == accepted);
    BOOST_TEST(verdict(bounce, strict()) ==
               refused("From header domain mail.example.org does not align with HELO name "
                       "mx1.example.org (strict): "
                       "the HELO name must be mail.example.org"));
    bounce.helo = "MAIL.example.ORG.";
    BOOST_TEST(verdict(bounce, strict()) == accepted);
    bounce.helo = "mx.other.example";
    BOOST_TEST(verdict(bounce) ==
               refused("From header domain mail.example.org does not align with HELO name "
                       "mx.other.example (relaxed): the HELO name must be example.org or a "
                       "subdomain of it"));
}

BOOST_FIXTURE_TEST_CASE(a_helo_that_is_no_domain_is_refused, default_options) {
    transaction bounce = from_to("MAILER-DAEMON@example.org", "<>");
    bounce.helo = "[192.0.2.1]";
    BOOST_TEST(verdict(bounce) ==
               refused("null envelope sender and HELO name '[192.0.2.1]' is no domain name to "
                       "align the From header domain example.org with"));
    bounce.helo = "";
    BOOST_TEST(verdict(bounce) == refused("null envelope sender and no HELO name to align the From "
                                          "header domain example.org with"));
}

BOOST_FIXTURE_TEST_CASE(the_last_helo_counts, default_options) {
    cm::testing::harness h{examples::align};
    h.helo("mx.other.example");
    h.helo("mail.example.org"); // EHLO again, after STARTTLS
    BOOST_TEST(send(h, from_to("MAILER-DAEMON@example.org", "<>")) == accepted);
}

BOOST_FIXTURE_TEST_CASE(pass_lets_bounces_through_but_still_wants_one_from, default_options) {
    const align_options pass{.null_sender = null_sender::pass};
    transaction bounce = from_to("MAILER-DAEMON@example.org", "<>");
    bounce.helo = "mx.other.example";
    BOOST_TEST(verdict(bounce, pass) == accepted);
    bounce.helo = "";
    BOOST_TEST(verdict(bounce, pass) == accepted);
    bounce.headers = {{"Subject", "no From"}};
    BOOST_TEST(verdict(bounce, pass) ==
               refused("message has no From header: it needs exactly one, with one address"));
    // A sender that is not null is checked as usual.
    BOOST_TEST(verdict(from_to("a@example.org", "<b@example.net>"), pass) != accepted);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(align_auth)

BOOST_FIXTURE_TEST_CASE(ignore_checks_everyone, default_options) {
    transaction t = from_to("alice@example.org", "<alice@example.net>");
    t.auth = "alice";
    BOOST_TEST(verdict(t) != accepted);
}

BOOST_FIXTURE_TEST_CASE(exempt_lets_authenticated_senders_through, default_options) {
    const align_options exempt{.auth = auth::exempt};
    transaction t = from_to("alice@example.org", "<alice@example.net>");
    BOOST_TEST(verdict(t, exempt) != accepted);
    t.auth = "alice";
    BOOST_TEST(verdict(t, exempt) == accepted);
    t.headers = {{"Subject", "no From at all"}};
    BOOST_TEST(verdict(t, exempt) == accepted);
    t.auth = ""; // a macro without a value is no login
    BOOST_TEST(verdict(t, exempt) != accepted);
}

BOOST_FIXTURE_TEST_CASE(only_checks_authenticated_senders_alone, default_options) {
    const align_options only{.auth = auth::only};
    transaction t = from_to("alice@example.org", "<alice@example.net>");
    BOOST_TEST(verdict(t, only) == accepted);
    t.auth = "alice";
    BOOST_TEST(
        verdict(t, only) ==
        refused(
            "From header domain example.org does not align with envelope sender domain example.net "
            "(relaxed): the envelope sender domain must be example.org or a subdomain of it"));
}

BOOST_FIXTURE_TEST_CASE(a_login_counts_for_its_own_message_only, default_options) {
    examples::align_settings.set({.auth = auth::exempt});
    cm::testing::harness h{examples::align};
    h.helo("mail.example.org");
    transaction t = from_to("alice@example.org", "<alice@example.net>");
    t.auth = "alice";
    BOOST_TEST(send(h, t) == accepted);
    t.auth.reset(); // the next message on the connection: Postfix sends an empty MAIL macro list
    BOOST_TEST(send(h, t) != accepted);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(align_operation)

BOOST_FIXTURE_TEST_CASE(each_rejection_is_one_info_line, default_options) {
    captured_log log;
    transaction t = from_to("alice@example.org", "<alice@example.net>");
    t.queue_id = "4XyZ1";
    BOOST_TEST(verdict(t) != accepted);
    BOOST_TEST(verdict(from_to("alice@example.org", "<alice@example.org>")) == accepted);
    transaction none;
    none.headers = {};
    none.sender = "<x\r\n@example.org>"; // no CR or LF reaches the log
    none.queue_id = "5\n6";
    BOOST_TEST(verdict(none) != accepted);
    const std::vector<std::string> want{
        "align: rejected queue_id=4XyZ1 rule=unaligned mode=relaxed sender=<alice@example.net>: "
        "From header domain "
        "example.org does not align with envelope sender domain example.net (relaxed): the "
        "envelope sender domain "
        "must be example.org or a subdomain of it",
        "align: rejected queue_id=5?6 rule=no_from mode=relaxed sender=<x??@example.org>: message "
        "has no From "
        "header: it needs exactly one, with one address",
    };
    BOOST_TEST(log.lines() == want, boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(dry_run_logs_and_accepts, default_options) {
    captured_log log;
    const align_options dry{.mode = mode::strict, .dry_run = true};
    transaction t = from_to("alice@mail.example.org", "<alice@example.org>");
    BOOST_TEST(verdict(t, dry) == accepted);
    transaction none;
    none.headers = {};
    BOOST_TEST(verdict(none, dry) == accepted);
    const std::vector<std::string> want{
        "align: dry run, would reject queue_id=4AbCdE1 rule=unaligned mode=strict "
        "sender=<alice@example.org>: From "
        "header domain mail.example.org does not align with envelope sender domain example.org "
        "(strict): the "
        "envelope sender domain must be mail.example.org",
        "align: dry run, would reject queue_id=4AbCdE1 rule=no_from mode=strict "
        "sender=<bounces@example.org>: "
        "message has no From header: it needs exactly one, with one address",
    };
    BOOST_TEST(log.lines() == want, boost::test_tools::per_element());
    // Without --dry-run the same message is refused.
    BOOST_TEST(verdict(t, strict()) != accepted);
}

BOOST_FIXTURE_TEST_CASE(quiet_at_the_default_log_level, default_options) {
    captured_log log;
    cm::asio_server::set_log_level(cm::asio_server::log_level::warning);
    BOOST_TEST(verdict(from_to("alice@example.org", "<alice@example.net>")) != accepted);
    BOOST_TEST(log.lines().empty());
}

BOOST_FIXTURE_TEST_CASE(options_are_pinned_at_mail_from, default_options) {
    cm::testing::harness h{examples::align};
    h.helo("mail.example.org");
    const auto sub = from_to("alice@mail.example.org", "<bounces@example.org>");
    // The first message starts relaxed; a reload to strict half way does not change it.
    h.macros('M', {});
    h.mail_from(sub.sender);
    examples::align_settings.set(strict());
    for (const auto& [name, value] : sub.headers)
        h.header(name, value);
    BOOST_TEST(h.end_of_message().str() == accepted);
    h.abort();
    // The next message takes the new options.
    BOOST_TEST(send(h, sub) != accepted);
}

BOOST_AUTO_TEST_CASE(command_line_and_config_file) {
    cm::settings<align_options> parsed; // not the server's: parsing publishes into it
    auto parse = [&](std::vector<const char*> argv) {
        argv.insert(argv.begin(), "align");
        return cm::asio_server::parse_command_line(static_cast<int>(argv.size()), argv.data(),
                                                   "align", "0.1.0", &parsed);
    };
    auto defaults = parse({});
    BOOST_TEST(defaults.exit_code == 0);
    BOOST_TEST((parsed.current().mode == mode::relaxed));
    BOOST_TEST((parsed.current().null_sender == null_sender::helo));
    BOOST_TEST((parsed.current().auth == auth::ignore));
    BOOST_TEST(!parsed.current().dry_run);

    auto all = parse({"--mode", "strict", "--null-sender", "pass", "--auth", "only", "--dry-run"});
    BOOST_TEST(all.exit_code == 0, all.message);
    BOOST_TEST((parsed.current().mode == mode::strict));
    BOOST_TEST((parsed.current().null_sender == null_sender::pass));
    BOOST_TEST((parsed.current().auth == auth::only));
    BOOST_TEST(parsed.current().dry_run);
    BOOST_TEST(parse({"--auth", "exempt"}).exit_code == 0);
    BOOST_TEST((parsed.current().auth == auth::exempt));
    BOOST_TEST((parsed.current().mode == mode::relaxed)); // each parse starts from the defaults

    const auto config = std::filesystem::temp_directory_path() /
                        ("align_test_" + std::to_string(::getpid()) + ".conf");
    struct remove_file {
        std::filesystem::path path;
        ~remove_file() { std::filesystem::remove(path); }
    } cleanup{config};
    std::ofstream{config} << "# align options\nmode = strict\nauth = exempt\nnull-sender = pass\n";
    auto from_file =
        parse({"--config", config.c_str(), "--auth", "ignore"}); // the command line wins
    BOOST_TEST(from_file.exit_code == 0, from_file.message);
    BOOST_TEST((parsed.current().mode == mode::strict));
    BOOST_TEST((parsed.current().auth == auth::ignore));
    BOOST_TEST((parsed.current().null_sender == null_sender::pass));
    BOOST_TEST(!parsed.current().dry_run);
}

// A name no value stands for is a usage error (64, EX_USAGE) when the options are read, on the
// command line or in the --config file: one line that names the option and the choices.
BOOST_AUTO_TEST_CASE(unknown_names_are_usage_errors) {
    cm::settings<align_options> parsed;
    auto parse = [&](std::vector<const char*> argv) {
        argv.insert(argv.begin(), "align");
        return cm::asio_server::parse_command_line(static_cast<int>(argv.size()), argv.data(),
                                                   "align", "0.1.0", &parsed);
    };
    BOOST_TEST(parse({"--mode", "strict", "--auth", "only"}).exit_code == 0);
    struct bad {
        std::vector<const char*> args;
        std::string message;
    };
    const bad cases[] = {
        {{"--mode", "bogus"}, "align: --mode: 'bogus' is not one of relaxed|strict"},
        {{"--mode", "Relaxed"}, "align: --mode: 'Relaxed' is not one of relaxed|strict"},
        {{"--mode", ""}, "align: --mode: '' is not one of relaxed|strict"},
        {{"--null-sender", "reject"}, "align: --null-sender: 'reject' is not one of helo|pass"},
        {{"--auth", "exempted"}, "align: --auth: 'exempted' is not one of ignore|exempt|only"},
        // Read, not checked, for --print-negotiation: a typo is still an error.
        {{"--mode", "bogus", "--print-negotiation"},
         "align: --mode: 'bogus' is not one of relaxed|strict"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.args.front() << " " << c.args[1]) {
            const auto cli = parse(c.args);
            BOOST_TEST(static_cast<int>(cli.what) ==
                       static_cast<int>(cm::asio_server::command_line::action::exit));
            BOOST_TEST(cli.exit_code == 64);
            BOOST_TEST(cli.message == c.message);
            // The refused values changed nothing: the previous value stays.
            BOOST_TEST((parsed.current().mode == mode::strict));
            BOOST_TEST((parsed.current().auth == auth::only));
        }
    }

    const auto config = std::filesystem::temp_directory_path() /
                        ("align_test_bad_" + std::to_string(::getpid()) + ".conf");
    struct remove_file {
        std::filesystem::path path;
        ~remove_file() { std::filesystem::remove(path); }
    } cleanup{config};
    std::ofstream{config} << "auth = nobody\n";
    auto bad_file = parse({"--config", config.c_str()});
    BOOST_TEST(bad_file.exit_code == 64);
    BOOST_TEST(bad_file.message == "align: --auth: 'nobody' is not one of ignore|exempt|only");
    BOOST_TEST((parsed.current().auth == auth::only));
}

BOOST_AUTO_TEST_CASE(help_lists_the_choices) {
    cm::settings<align_options> parsed;
    const char* argv[] = {"align", "--help"};
    const auto help =
        cm::asio_server::parse_command_line(2, argv, "align", "0.1.0", &parsed);
    BOOST_TEST(help.exit_code == 0);
    for (const char* option : {"--mode relaxed|strict", "--null-sender helo|pass",
                               "--auth ignore|exempt|only", "--dry-run"})
        BOOST_TEST(help.message.find(option) != std::string::npos, option);
}

BOOST_AUTO_TEST_CASE(negotiation_on_the_wire) {
    cm::testing::harness h{examples::align};
    // No modification; SETSYMLIST only, to ask for the macros.
    BOOST_TEST(h.negotiated().actions == proto::action_set{proto::action::set_symbol_list});
    BOOST_TEST(h.negotiated().protocol.has(P::no_body));
    BOOST_TEST(!h.negotiated().protocol.has(P::no_headers));
    BOOST_TEST(h.connect() == "(not sent)");
    BOOST_TEST(h.helo("mail.example.org") == "(no answer)");
    BOOST_TEST(h.unknown("XFOO") == "(not sent)");
}

BOOST_AUTO_TEST_SUITE_END()
