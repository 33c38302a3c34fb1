// The dkim example (examples/dkim.hpp) in-process: cm::testing::harness plays Postfix, the
// signer's DKIM-Signature is handed to the verifier as Postfix would hand it on. Keys are
// test keys only (tests/examples/data/dkim/).
#define BOOST_TEST_MODULE cppmilter dkim example
#include "dkim.hpp"
#include "dkim_fake_dns.hpp"
#include "support/mta_client.hpp"

#include <cppmilter/asio/server.hpp>
#include <cppmilter/testing/harness.hpp>

#include <boost/test/unit_test.hpp>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace cm = cppmilter;
namespace proto = cppmilter::proto;
using examples::dkim_config;
using examples::dkim_settings;
using namespace std::chrono_literals;

namespace {

const std::string data = CPPMILTER_DKIM_DATA;
const std::string rsa_key = "example.test:rsa:" + data + "/rsa2048.pem";
const std::string ed_key = "example.test:ed:" + data + "/ed25519.pem";

using header_list = std::vector<std::pair<std::string, std::string>>;

/// A message as Postfix hands it to a milter: values without the one space after the colon,
/// folded lines joined with LF; the body with CRLF.
struct test_message {
    header_list headers;
    std::string body = "Hello,\r\n\r\nthis is the body.\r\n";
};

test_message plain() {
    return {{{"From", "Alice <alice@example.test>"},
             {"To", "bob@example.org"},
             {"Subject", "greetings"},
             {"Date", "Wed, 02 Dec 2026 12:00:00 +0000"},
             {"Message-ID", "<1@example.test>"}}};
}

/// Folded, 8-bit (UTF-8 and Latin-1 bytes) and duplicated fields, two spaces after a colon.
test_message awkward() {
    return {{{"From", "=?UTF-8?Q?J=C3=BCrgen?= <juergen@example.test>"},
             {"To", "first@example.org,\n\tsecond@example.org,\n  third@example.org"},
             {"To", "fourth@example.org"},
             {"Subject", "Gr\xc3\xbc\xc3\x9f" "e aus K\xf6ln"},
             {"X-Folded", " leading space kept\n\tand a tab fold"},
             {"Received", "from a by b; Wed, 02 Dec 2026 11:00:00 +0000"},
             {"Received", "from c by d;\n\tWed, 02 Dec 2026 10:00:00 +0000"},
             {"Message-ID", "<2@example.test>"}},
            "8-bit body: \xc3\xa4\xc3\xb6\xc3\xbc \xe4\r\ntrailing spaces   \r\n\r\n\r\n"};
}

dkim_settings signer(std::vector<std::string> keys) {
    dkim_settings s;
    s.mode = dkim_settings::mode_type::sign;
    s.signing_keys = std::move(keys);
    return s;
}

dkim_settings verifier() {
    dkim_settings s;
    s.mode = dkim_settings::mode_type::verify;
    s.authserv_id = "mx.test";
    s.key_records = data + "/key-records.txt";
    return s;
}

struct options {
    std::string client = "192.0.2.1";
    bool authenticated = true;
};

/// One transaction through the milter with the current settings; the end-of-message answers.
cm::testing::answers transact(const test_message& m, const options& o = {}) {
    cm::testing::harness h{examples::dkim_milter};
    h.connect("client.example", o.client);
    if (o.authenticated) h.macros('M', {{"{auth_authen}", "alice"}});
    h.mail_from("<alice@example.test>");
    h.rcpt("<bob@example.org>");
    h.data();
    for (const auto& [n, v] : m.headers) h.header(n, v);
    h.end_of_headers();
    h.body(m.body);
    h.macros('E', {{"i", "QUEUEID"}});
    auto a = h.end_of_message();
    h.abort();
    return a;
}

std::vector<proto::insert_header> insertions(const cm::testing::answers& a) {
    std::vector<proto::insert_header> out;
    for (const auto& r : a.replies())
        if (auto* i = std::get_if<proto::insert_header>(&r)) out.push_back(*i);
    return out;
}

/// Signs `m` with `s` and returns it with the signatures on top, as the MTA would pass it on.
test_message signed_by(const dkim_settings& s, test_message m, const options& o = {}) {
    dkim_config.set(s);
    auto a = transact(m, o);
    for (const auto& i : insertions(a)) {
        BOOST_TEST(i.index == 0u);
        BOOST_TEST(std::string{i.name} == "DKIM-Signature");
        m.headers.insert(m.headers.begin(), {std::string{i.name}, std::string{i.value}});
    }
    return m;
}

std::size_t signatures(const test_message& m) {
    std::size_t n = 0;
    for (const auto& h : m.headers) n += h.first == "DKIM-Signature";
    return n;
}

/// The Authentication-Results value the verifier inserts at the top, unfolded.
std::string verified(const test_message& m, dkim_settings s = verifier()) {
    dkim_config.set(std::move(s));
    auto a = transact(m);
    auto ins = insertions(a);
    BOOST_REQUIRE_EQUAL(ins.size(), 1u);
    BOOST_TEST(ins[0].index == 0u);
    BOOST_TEST(std::string{ins[0].name} == "Authentication-Results");
    std::string v{ins[0].value};
    for (std::size_t at; (at = v.find("\n\t")) != std::string::npos;) v.replace(at, 2, " ");
    return v;
}

/// A whole message over a real connection, up to (not including) end of message.
void send_message(cppmilter::test::mta_client& mta, const test_message& m) {
    mta.command(proto::connect{"client.example", proto::address_family::inet, 54321, "192.0.2.1"});
    mta.command(proto::mail{"<alice@example.test>", {}});
    mta.command(proto::rcpt{"<bob@example.org>", {}});
    for (const auto& [n, v] : m.headers) mta.command(proto::header{n, v});
    mta.command(proto::end_of_headers{});
    mta.command(proto::body{m.body});
}

std::string key_records_text() {
    std::ifstream in{data + "/key-records.txt"};
    std::stringstream zone;
    zone << in.rdbuf();
    return zone.str();
}

std::string tag(const std::string& signature, const std::string& name) {
    auto tags = examples::dkim::parse_tags(signature);
    return tags.count(name) ? tags[name] : "";
}

/// header.b as the verifier writes it: the first 8 characters of b=, quoted when they hold a
/// '/' (an RFC 2045 tspecial; the other base64 characters are token characters).
std::string header_b(const std::string& signature) {
    const auto b = tag(signature, "b").substr(0, 8);
    return b.find('/') == std::string::npos ? b : "\"" + b + "\"";
}

std::string first_signature(const test_message& m) {
    for (const auto& h : m.headers)
        if (h.first == "DKIM-Signature") return h.second;
    return {};
}

void replace_header(test_message& m, const std::string& name, const std::string& value) {
    for (auto& h : m.headers)
        if (h.first == name) {
            h.second = value;
            return;
        }
}

} // namespace

BOOST_AUTO_TEST_SUITE(dkim_round_trip)

BOOST_AUTO_TEST_CASE(rsa_sha256_signs_and_verifies) {
    auto m = signed_by(signer({rsa_key}), plain());
    BOOST_REQUIRE_EQUAL(signatures(m), 1u);
    const auto sig = first_signature(m);
    BOOST_TEST(tag(sig, "a") == "rsa-sha256");
    BOOST_TEST(tag(sig, "c") == "relaxed/relaxed");
    BOOST_TEST(tag(sig, "d") == "example.test");
    BOOST_TEST(tag(sig, "s") == "rsa");
    BOOST_TEST(sig.find('\r') == std::string::npos); // LF folds, as the MTA wants them
    BOOST_TEST(verified(m) == "mx.test; dkim=pass header.d=example.test header.s=rsa header.b=" + header_b(sig));
}

BOOST_AUTO_TEST_CASE(ed25519_sha256_signs_and_verifies) {
    auto m = signed_by(signer({ed_key}), plain());
    const auto sig = first_signature(m);
    BOOST_TEST(tag(sig, "a") == "ed25519-sha256");
    BOOST_TEST(verified(m) == "mx.test; dkim=pass header.d=example.test header.s=ed header.b=" + header_b(sig));
}

BOOST_AUTO_TEST_CASE(both_keys_of_a_domain_sign_and_each_is_reported) {
    auto m = signed_by(signer({rsa_key, ed_key}), plain());
    BOOST_REQUIRE_EQUAL(signatures(m), 2u);
    const auto ar = verified(m);
    BOOST_TEST(ar.find("dkim=pass header.d=example.test header.s=rsa") != std::string::npos, ar);
    BOOST_TEST(ar.find("dkim=pass header.d=example.test header.s=ed") != std::string::npos, ar);
}

BOOST_AUTO_TEST_CASE(folded_8bit_and_duplicated_headers_survive_both_canonicalizations) {
    for (const char* canon : {"relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"}) {
        for (const auto& key : {rsa_key, ed_key}) {
            auto s = signer({key});
            s.canonicalization = canon;
            auto m = signed_by(s, awkward());
            BOOST_TEST(tag(first_signature(m), "c") == canon);
            const auto ar = verified(m);
            BOOST_TEST(ar.starts_with("mx.test; dkim=pass "), canon << " " << key << ": " << ar);
        }
    }
}

BOOST_AUTO_TEST_CASE(duplicated_and_oversigned_fields_are_listed_in_h) {
    auto m = signed_by(signer({rsa_key}), awkward());
    const auto h = tag(first_signature(m), "h");
    BOOST_TEST(h.find("To:To") != std::string::npos, h);     // both To fields
    BOOST_TEST(std::count(h.begin(), h.end(), ':') == 5, h); // From:To:To:Subject:Message-ID:From
    BOOST_TEST((h.starts_with("From:") && h.ends_with(":From")), h); // From over-signed
    BOOST_TEST(h.find("Received") == std::string::npos, h);  // trace fields are not signed
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dkim_failures)

BOOST_AUTO_TEST_CASE(one_body_byte_changed_fails) {
    for (const auto& key : {rsa_key, ed_key}) {
        auto m = signed_by(signer({key}), plain());
        m.body[0] = 'J';
        const auto ar = verified(m);
        BOOST_TEST(ar.starts_with("mx.test; dkim=fail reason=\"body hash mismatch\" header.d=example.test"), ar);
    }
}

BOOST_AUTO_TEST_CASE(a_signed_header_changed_fails_an_unsigned_one_does_not) {
    for (const auto& key : {rsa_key, ed_key}) {
        auto m = signed_by(signer({key}), plain());
        auto changed = m;
        replace_header(changed, "Subject", "greetingz");
        BOOST_TEST(verified(changed).starts_with("mx.test; dkim=fail "), verified(changed));
        auto added = m;
        added.headers.emplace_back("X-Mailing-List", "added on the way");
        BOOST_TEST(verified(added).starts_with("mx.test; dkim=pass "), verified(added));
        auto second_from = m; // From is over-signed: a second one breaks the signature
        second_from.headers.emplace_back("From", "mallory@example.test");
        BOOST_TEST(verified(second_from).starts_with("mx.test; dkim=fail "), verified(second_from));
    }
}

BOOST_AUTO_TEST_CASE(no_signature_is_none) {
    BOOST_TEST(verified(plain()) == "mx.test; dkim=none");
}

BOOST_AUTO_TEST_CASE(a_malformed_or_missing_key_record_is_permerror) {
    auto m = signed_by(signer({"example.test:broken:" + data + "/rsa2048.pem"}), plain());
    BOOST_TEST(verified(m).starts_with("mx.test; dkim=permerror "), verified(m));
    auto absent = signed_by(signer({"example.test:absent:" + data + "/rsa2048.pem"}), plain());
    const auto ar = verified(absent);
    BOOST_TEST(ar.starts_with("mx.test; dkim=permerror reason=\"no key for signature\" header.d=example.test header.s=absent"), ar);
}

BOOST_AUTO_TEST_CASE(a_malformed_signature_is_permerror) {
    auto m = plain();
    m.headers.insert(m.headers.begin(), {"DKIM-Signature", "v=1; a=rsa-sha256; d=example.test; b=abc"});
    BOOST_TEST(verified(m).starts_with("mx.test; dkim=permerror "), verified(m));
}

BOOST_AUTO_TEST_CASE(keys_come_from_dns) {
    cppmilter::test::fake_dns server{key_records_text()};
    auto s = verifier();
    s.key_records.clear();
    s.dns_servers = {server.server()};
    auto m = signed_by(signer({rsa_key, ed_key, "example.test:absent:" + data + "/ed25519.pem"}), plain());
    const auto ar = verified(m, s);
    BOOST_TEST(ar.find("dkim=pass header.d=example.test header.s=rsa") != std::string::npos, ar);
    BOOST_TEST(ar.find("dkim=pass header.d=example.test header.s=ed") != std::string::npos, ar);
    BOOST_TEST(ar.find("dkim=permerror reason=\"no key for signature\" header.d=example.test header.s=absent") != std::string::npos, ar);
}

BOOST_AUTO_TEST_CASE(a_dns_timeout_is_temperror_and_the_message_passes) {
    cppmilter::test::fake_dns silent{"", true};
    auto s = verifier();
    s.key_records.clear();
    s.dns_servers = {silent.server()};
    s.dns_timeout = 300ms;
    auto m = signed_by(signer({rsa_key}), plain());
    dkim_config.set(s);
    auto a = transact(m);
    BOOST_TEST((a.last() && std::holds_alternative<proto::continue_>(*a.last())), a.str());
    const auto ar = verified(m, s);
    BOOST_TEST(ar.starts_with("mx.test; dkim=temperror reason=\"key lookup: timeout\" header.d=example.test header.s=rsa"), ar);
}

BOOST_AUTO_TEST_CASE(a_waiting_key_lookup_does_not_hold_up_other_connections) {
    // One server thread, two connections. The DNS server keeps every answer back until it has
    // been asked for two different keys: the first connection's lookup can only be answered
    // if the thread served the second connection (and sent its query) while the first one
    // waited. A blocking lookup would end the first in temperror (the DNS timeout) instead.
    cppmilter::test::fake_dns server{key_records_text(), false, 2};
    auto s = verifier();
    s.key_records.clear();
    s.dns_servers = {server.server()};
    s.dns_timeout = 20s;
    const auto rsa_signed = signed_by(signer({rsa_key}), plain());
    const auto ed_signed = signed_by(signer({ed_key}), plain());
    dkim_config.set(s);
    namespace srv = cppmilter::asio_server;
    srv::server_options o;
    o.listen = {"inet:127.0.0.1:0"};
    o.threads = 1;
    o.shutdown_timeout = 5s;
    srv::server<std::remove_cvref_t<decltype(examples::dkim_milter)>> milter{examples::dkim_milter, o};
    const auto address = milter.start().at(0);
    cppmilter::test::mta_client first{30s}, second{30s};
    for (auto* mta : {&first, &second}) {
        mta->connect(address);
        mta->negotiate();
    }
    send_message(first, rsa_signed);
    first.send(proto::end_of_body{}); // its answer is read last
    send_message(second, ed_signed);
    const auto second_answer = cppmilter::test::str(second.end_of_message());
    const auto first_answer = cppmilter::test::str(first.receive());
    BOOST_TEST(second_answer.find("dkim=pass header.d=example.test header.s=ed") != std::string::npos, second_answer);
    BOOST_TEST(first_answer.find("dkim=pass header.d=example.test header.s=rsa") != std::string::npos, first_answer);
    for (auto* mta : {&first, &second}) {
        mta->command(proto::quit{});
        BOOST_TEST(mta->read_eof(5s));
    }
    milter.request_stop();
    milter.wait();
}

BOOST_AUTO_TEST_CASE(no_more_than_ten_keys_are_looked_up) {
    // Twelve signatures with twelve selectors, the real one on top: the first ten keys are
    // looked up (the real one passes, no other exists: permerror), the last two are not
    // (temperror, and said why).
    auto m = signed_by(signer({rsa_key}), plain());
    const auto sig = first_signature(m);
    for (int i = 1; i <= 11; ++i) {
        auto other = sig;
        other.replace(other.find("s=rsa;"), 6, "s=k" + std::to_string(i) + ";");
        m.headers.insert(m.headers.begin() + 1, {"DKIM-Signature", other}); // below the real one
    }
    const auto ar = verified(m);
    auto count = [&](const std::string& what) {
        std::size_t n = 0;
        for (auto at = ar.find(what); at != std::string::npos; at = ar.find(what, at + 1)) ++n;
        return n;
    };
    BOOST_TEST(count("dkim=") == 12u, ar);
    BOOST_TEST(count("dkim=temperror reason=\"key lookup: more than 10 keys\"") == 2u, ar);
    BOOST_TEST(count("dkim=pass header.d=example.test header.s=rsa ") == 1u, ar);
}

BOOST_AUTO_TEST_CASE(forged_results_for_our_authserv_id_are_removed) {
    auto m = plain();
    m.headers.emplace_back("Authentication-Results", "other.example; dkim=pass header.d=x");
    m.headers.emplace_back("Authentication-Results", "MX.test; dkim=pass header.d=forged.example");
    m.headers.emplace_back("Authentication-Results", " (comment) mx.test;\n\tdkim=pass");
    dkim_config.set(verifier());
    const auto a = transact(m);
    BOOST_TEST(a.str() == "CHGHEADER index=3 name=\"Authentication-Results\" value=\"\"; "
                          "CHGHEADER index=2 name=\"Authentication-Results\" value=\"\"; "
                          "INSHEADER index=0 name=\"Authentication-Results\" value=\"mx.test;\\n\\tdkim=none\"; CONTINUE",
               a.str());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dkim_signing_choices)

BOOST_AUTO_TEST_CASE(which_messages_are_signed) {
    auto s = signer({rsa_key});
    s.sign_which = dkim_settings::which_messages::auth;
    BOOST_TEST(signatures(signed_by(s, plain(), {.authenticated = false})) == 0u);
    BOOST_TEST(signatures(signed_by(s, plain(), {.authenticated = true})) == 1u);
    s.sign_which = dkim_settings::which_messages::internal;
    s.internal_hosts = {"10.0.0.0/8,192.0.2.0/24", "2001:db8::/32"};
    BOOST_TEST(signatures(signed_by(s, plain(), {.client = "192.0.2.77", .authenticated = false})) == 1u);
    BOOST_TEST(signatures(signed_by(s, plain(), {.client = "2001:db8::1", .authenticated = false})) == 1u);
    BOOST_TEST(signatures(signed_by(s, plain(), {.client = "198.51.100.1", .authenticated = true})) == 0u);
    s.sign_which = dkim_settings::which_messages::all;
    BOOST_TEST(signatures(signed_by(s, plain(), {.client = "198.51.100.1", .authenticated = false})) == 1u);
}

BOOST_AUTO_TEST_CASE(the_key_follows_the_from_domain_or_its_parent) {
    auto s = signer({rsa_key, "other.test:o:" + data + "/ed25519.pem"});
    auto sub = plain();
    replace_header(sub, "From", "alice@mail.Example.TEST");
    BOOST_TEST(tag(first_signature(signed_by(s, sub)), "d") == "example.test");
    auto other = plain();
    replace_header(other, "From", "<bob@other.test>");
    BOOST_TEST(tag(first_signature(signed_by(s, other)), "s") == "o");
    auto stranger = plain();
    replace_header(stranger, "From", "carol@notexample.test");
    BOOST_TEST(signatures(signed_by(s, stranger)) == 0u);
}

BOOST_AUTO_TEST_CASE(without_a_single_from_nothing_is_signed_and_the_message_passes) {
    auto s = signer({rsa_key});
    auto none = plain();
    none.headers.erase(none.headers.begin());
    dkim_config.set(s);
    BOOST_TEST(transact(none).str() == "CONTINUE");
    auto two = plain();
    two.headers.emplace_back("From", "second@example.test");
    BOOST_TEST(transact(two).str() == "CONTINUE");
    auto garbage = plain();
    replace_header(garbage, "From", "\xff\xfe not an address");
    BOOST_TEST(transact(garbage).str() == "CONTINUE");
}

BOOST_AUTO_TEST_CASE(a_libopendkim_failure_follows_on_error) {
    // libopendkim refuses a field name with an 8-bit byte (Postfix would not pass one on; the
    // harness does): the message passes unsigned, or is tempfailed with --on-error tempfail.
    auto m = plain();
    m.headers.emplace_back("X-B\xe4" "d-Name", "value");
    auto s = signer({rsa_key});
    dkim_config.set(s);
    BOOST_TEST(transact(m).str() == "CONTINUE");
    s.on_error = dkim_settings::error_action::tempfail;
    dkim_config.set(s);
    BOOST_TEST(transact(m).str() == "TEMPFAIL");
    auto signed_message = signed_by(signer({rsa_key}), plain());
    signed_message.headers.emplace_back("X-B\xe4" "d-Name", "value");
    BOOST_TEST(verified(signed_message) == "mx.test; dkim=temperror reason=\"internal error\"");
    auto v = verifier();
    v.on_error = dkim_settings::error_action::tempfail;
    dkim_config.set(v);
    BOOST_TEST(transact(signed_message).str() == "TEMPFAIL");
}

BOOST_AUTO_TEST_CASE(the_signed_header_set_can_be_chosen) {
    auto s = signer({rsa_key});
    s.sign_headers = "From,Subject";
    s.oversign_headers = "";
    auto m = signed_by(s, plain());
    BOOST_TEST(tag(first_signature(m), "h") == "From:Subject");
    BOOST_TEST(verified(m).starts_with("mx.test; dkim=pass "));
}

// examples/dkim_key_cache.cpp: libopendkim's PEM_read_bio_PrivateKey (a memory BIO, no pass
// phrase callback) gets the key decoded the first time, where libopendkim is linked
// statically (this test links like the dkim binary); messages signed that way verify.
BOOST_AUTO_TEST_CASE(the_signing_key_is_decoded_once) {
    std::ifstream file{data + "/rsa2048.pem"};
    const std::string pem{std::istreambuf_iterator<char>{file}, {}};
    auto decode = [&](pem_password_cb* callback) {
        BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
        EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, callback, nullptr);
        BIO_free(bio);
        return key;
    };
    EVP_PKEY* first = decode(nullptr);
    EVP_PKEY* second = decode(nullptr);
    BOOST_TEST_REQUIRE(first != nullptr);
#ifdef CPPMILTER_DKIM_KEY_CACHE
    BOOST_TEST(first == second); // the same key, one more reference
#endif
    // A caller with a pass-phrase callback (the settings check) always decodes.
    EVP_PKEY* own = decode([](char*, int, int, void*) { return 0; });
    BOOST_TEST_REQUIRE(own != nullptr);
    BOOST_TEST(own != first);
    BOOST_TEST(EVP_PKEY_eq(own, first) == 1);
    for (EVP_PKEY* k : {first, second, own}) EVP_PKEY_free(k);
    for (int i = 0; i < 3; ++i) BOOST_TEST(verified(signed_by(signer({rsa_key}), plain())).starts_with("mx.test; dkim=pass "));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dkim_settings_check)

BOOST_AUTO_TEST_CASE(bad_settings_are_refused_with_one_line) {
    auto refused = [](dkim_settings s, const std::string& expected) {
        try {
            s.check();
            BOOST_ERROR("accepted, expected: " << expected);
        } catch (const cm::settings_error& e) {
            BOOST_TEST(std::string{e.what()}.find(expected) != std::string::npos, e.what());
        }
    };
    refused(dkim_settings{}, "--mode sign or --mode verify is required");
    refused(signer({}), "--mode sign needs a key");
    refused(signer({"example.test:rsa:/nonexistent/key.pem"}), "cannot read key file /nonexistent/key.pem");
    refused(signer({"example.test:rsa:" + data + "/key-records.txt"}), "holds no PEM private key");
    refused(signer({"example.test:rsa:" + data + "/rsa1024.pem"}), "1024-bit RSA key; at least 2048 bits");
    refused(signer({"example.test-no-selector"}), "is not DOMAIN:SELECTOR:FILE");
    auto s = signer({rsa_key});
    s.canonicalization = "loose/simple";
    refused(s, "--canonicalization");
    s = signer({rsa_key});
    s.internal_hosts = {"10.0.0.0/33"};
    refused(s, "--internal-hosts: '10.0.0.0/33'");
    auto v = verifier();
    v.dns_servers = {"dns.example"};
    refused(v, "--dns-server");
    v = verifier();
    v.key_records = "/nonexistent/records";
    refused(v, "--key-records: cannot read");
}

BOOST_AUTO_TEST_CASE(header_lines_are_rebuilt_as_they_were) {
    using examples::dkim::header_line;
    BOOST_TEST(header_line("Subject", "hi") == "Subject: hi");
    BOOST_TEST(header_line("Subject", " two") == "Subject:  two");
    BOOST_TEST(header_line("To", "a,\n\tb,\n c") == "To: a,\r\n\tb,\r\n c");
}

BOOST_AUTO_TEST_SUITE_END()
