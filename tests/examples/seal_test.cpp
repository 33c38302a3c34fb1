// The seal milter through the harness (Postfix's side played in-process): the header's form
// and folding, what the sealed JSON holds (opened here with the secret key), the forged header
// removed, --only-auth, missing macros, key rotation; and its settings' checks.
#define BOOST_TEST_MODULE seal
#include "seal.hpp"

#include <cppmilter/testing/harness.hpp>

// Boost.JSON compiled into this one file of the test binary.
#include <boost/json/src.hpp>
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace cm = cppmilter;
namespace fs = std::filesystem;
namespace json = boost::json;
namespace proto = cppmilter::proto;
namespace sealed = examples::sealed;
using examples::seal_options;
using examples::seal_settings;

namespace {

struct key_pair {
    sealed::key_bytes public_key{}, secret_key{};
};

// Key files in a directory of this test run: a.pub, b.pub and a few broken ones.
struct key_files {
    fs::path dir;
    std::map<std::string, key_pair> pairs;

    key_files() {
        sealed::init_sodium();
        dir = fs::temp_directory_path() / ("seal_test." + std::to_string(::getpid()));
        fs::create_directories(dir);
        for (std::string id : {"a", "b"}) {
            key_pair& k = pairs[id];
            crypto_box_keypair(k.public_key.data(), k.secret_key.data());
            write(id + ".pub", sealed::to_base64(k.public_key.data(), k.public_key.size()) + "\n");
        }
        const unsigned char sixteen[16]{};
        write("short.pub", sealed::to_base64(sixteen, sizeof sixteen) + "\n");
        write("garbage.pub", "this is no base64 at all\n");
        write("empty.pub", "");
    }
    ~key_files() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }
    void write(const std::string& name, const std::string& text) const { std::ofstream{dir / name} << text; }
    std::string path(const std::string& name) const { return (dir / name).string(); }
};

key_files& keys() {
    static key_files k;
    return k;
}

// Settings with key a alone, or as given.
seal_settings settings_with(std::vector<std::string> public_keys, std::string key_id = {}, bool only_auth = false,
                            std::string header = "X-Sealed-Info") {
    seal_settings s;
    s.public_keys = std::move(public_keys);
    s.key_id = std::move(key_id);
    s.only_auth = only_auth;
    s.header = std::move(header);
    return s;
}
void use_key_a() { seal_options.set(settings_with({keys().path("a.pub")})); }

struct reset_settings {
    reset_settings() { use_key_a(); }
    ~reset_settings() { use_key_a(); }
};

using seal_type = std::remove_cvref_t<decltype(examples::seal)>;

// The modifications of one end-of-message answer, and its verdict.
struct eom_result {
    cm::testing::answers answers; // owns the bytes the modifications view
    std::vector<proto::add_header> added;
    std::vector<proto::change_header> changed;
    std::string all;
};

eom_result split(cm::testing::answers a) {
    eom_result r;
    r.answers = std::move(a);
    r.all = r.answers.str();
    for (const auto& reply : r.answers.replies()) {
        if (const auto* h = std::get_if<proto::add_header>(&reply)) r.added.push_back(*h);
        if (const auto* c = std::get_if<proto::change_header>(&reply)) r.changed.push_back(*c);
    }
    return r;
}

using pairs = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// One transaction as Postfix sends it to seal (MAIL, RCPT, DATA are switched off but their
// macros still come), with `mail_macros` before MAIL and `eom_macros` before end of message.
eom_result transaction(cm::testing::harness<seal_type>& h, pairs mail_macros, pairs headers, pairs eom_macros) {
    h.macros('M', mail_macros);
    BOOST_TEST(h.mail_from("<alice@example.org>").str() == "(not sent)");
    BOOST_TEST(h.rcpt("<bob@example.net>").str() == "(not sent)");
    h.data();
    for (const auto& [name, value] : headers) BOOST_TEST(h.header(name, value).str() == "(no answer)");
    h.end_of_headers();
    h.body("hello\r\n");
    h.macros('E', eom_macros);
    auto result = split(h.end_of_message());
    h.abort();
    return result;
}

// The JSON sealed into `value` (the header value as sent), opened with secret key `id`.
json::object opened(std::string_view value, const std::string& id = "a") {
    const auto parsed = sealed::parse(value);
    const auto box = sealed::from_base64(parsed.data);
    BOOST_REQUIRE(box);
    const auto plain = sealed::open(*box, keys().pairs.at(id).secret_key);
    BOOST_REQUIRE_MESSAGE(plain, "the value does not open with key " << id);
    return json::parse(*plain).as_object();
}

// Every line of "Name: value" at most 78 columns, continuation lines folded with LF + space.
void check_folding(std::string_view name, std::string_view value) {
    const std::string field = std::string{name} + ": " + std::string{value};
    BOOST_TEST(field.find('\r') == std::string::npos);
    std::size_t start = 0, lines = 0;
    while (start <= field.size()) {
        const auto end = std::min(field.find('\n', start), field.size());
        const std::string_view line{field.data() + start, end - start};
        BOOST_TEST(line.size() <= 78u, "line " << lines + 1 << " is " << line.size() << " columns: " << line);
        if (lines > 0) BOOST_TEST((line.starts_with(' ') || line.starts_with('\t')));
        ++lines;
        start = end + 1;
    }
    BOOST_TEST(lines > 1u); // several hundred characters of base64 cannot fit on one line
}

const pairs full_mail_macros{{"{auth_authen}", "alice"},
                             {"{tls_version}", "TLSv1.3"},
                             {"{cipher}", "TLS_AES_256_GCM_SHA384"},
                             {"{cipher_bits}", "256"}};
const pairs some_headers{{"From", "Alice <alice@example.org>"}, {"Subject", "hello"}};

} // namespace

BOOST_AUTO_TEST_SUITE(seal_milter)

// What seal asks of the MTA: header edits only; connect and HELO without answers; the macros.
BOOST_AUTO_TEST_CASE(negotiation) {
    constexpr auto n = seal_type::negotiation;
    static_assert(n.actions == (proto::action_set{proto::action::add_headers} | proto::action::change_headers));
    static_assert(n.protocol.has(proto::protocol::no_reply_connect));
    static_assert(n.protocol.has(proto::protocol::no_reply_helo));
    static_assert(n.protocol.has(proto::protocol::no_mail) && n.protocol.has(proto::protocol::no_rcpt));
    static_assert(n.protocol.has(proto::protocol::no_body));
    reset_settings guard;
    cm::testing::harness h{examples::seal};
    const auto& reply = h.negotiated();
    BOOST_TEST(reply.macros[static_cast<std::size_t>(proto::macro_stage::mail)].value_or("") ==
               "{auth_authen} {tls_version} {cipher} {cipher_bits}");
    BOOST_TEST(reply.macros[static_cast<std::size_t>(proto::macro_stage::end_of_message)].value_or("") == "i");
}

BOOST_AUTO_TEST_CASE(seals_every_field_into_a_folded_header) {
    reset_settings guard;
    cm::testing::harness h{examples::seal};
    BOOST_TEST(h.connect("client.example.org", "192.0.2.7", 40001).str() == "(no answer)");
    BOOST_TEST(h.helo("mail.client.example.org").str() == "(no answer)");
    const std::string before = sealed::utc_time(std::chrono::system_clock::now());
    const auto r = transaction(h, full_mail_macros, some_headers, {{"i", "4QxyZ1AbCd"}});
    const std::string after = sealed::utc_time(std::chrono::system_clock::now());

    BOOST_TEST_REQUIRE(r.added.size() == 1u, r.all);
    BOOST_TEST(r.changed.empty());
    BOOST_TEST(r.all.ends_with("; CONTINUE"));
    BOOST_TEST(r.added[0].name == "X-Sealed-Info");
    const std::string_view value = r.added[0].value;
    check_folding("X-Sealed-Info", value);
    const std::string unfolded = cm::mail::unfold(value);
    BOOST_TEST(unfolded.starts_with("v=1; k=a; d="), unfolded);
    BOOST_TEST(unfolded.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= ", 12) ==
               std::string::npos);

    const json::object o = opened(value);
    BOOST_TEST(o.size() == 10u);
    BOOST_TEST(o.at("client_address") == "192.0.2.7");
    BOOST_TEST(o.at("client_port") == 40001);
    BOOST_TEST(o.at("client_name") == "client.example.org");
    BOOST_TEST(o.at("helo") == "mail.client.example.org");
    BOOST_TEST(o.at("auth_user") == "alice");
    BOOST_TEST(o.at("tls_version") == "TLSv1.3");
    BOOST_TEST(o.at("tls_cipher") == "TLS_AES_256_GCM_SHA384");
    BOOST_TEST(o.at("tls_cipher_bits") == 256);
    BOOST_TEST(o.at("queue_id") == "4QxyZ1AbCd");
    const std::string time{o.at("time").as_string()};
    BOOST_TEST(time.size() == 20u);
    BOOST_TEST((before <= time && time <= after), before << " <= " << time << " <= " << after);
}

// Every seal is new (a fresh ephemeral key): the same facts never give the same value twice.
BOOST_AUTO_TEST_CASE(the_same_facts_seal_differently) {
    reset_settings guard;
    cm::testing::harness h{examples::seal};
    h.connect();
    const auto first = transaction(h, {}, some_headers, {{"i", "SAME"}});
    const auto second = transaction(h, {}, some_headers, {{"i", "SAME"}});
    BOOST_TEST_REQUIRE(first.added.size() == 1u);
    BOOST_TEST_REQUIRE(second.added.size() == 1u);
    BOOST_TEST(first.added[0].value != second.added[0].value);
}

BOOST_AUTO_TEST_CASE(forged_headers_are_deleted_and_only_ours_remains) {
    reset_settings guard;
    cm::testing::harness h{examples::seal};
    h.connect();
    const auto r = transaction(h, {},
                               {{"X-Sealed-Info", "v=1; k=a; d=forged"},
                                {"Subject", "forged"},
                                {"x-sealed-INFO", "v=1; k=a;\n d=also forged"}},
                               {{"i", "Q1"}});
    // Deleted bottom up (occurrence 2, then 1), then ours appended.
    BOOST_TEST_REQUIRE(r.changed.size() == 2u, r.all);
    BOOST_TEST(r.changed[0].index == 2u);
    BOOST_TEST(r.changed[1].index == 1u);
    for (const auto& c : r.changed) {
        BOOST_TEST(cm::mail::iequals(c.name, "X-Sealed-Info"));
        BOOST_TEST(c.value.empty());
    }
    BOOST_TEST_REQUIRE(r.added.size() == 1u, r.all);
    BOOST_TEST(r.all.find("CHGHEADER") < r.all.find("ADDHEADER"));
    BOOST_TEST(opened(r.added[0].value).at("queue_id") == "Q1");
}

BOOST_AUTO_TEST_CASE(only_auth_seals_authenticated_submissions_alone) {
    reset_settings guard;
    seal_options.set(settings_with({keys().path("a.pub")}, "", true));
    cm::testing::harness h{examples::seal};
    h.connect();
    h.helo("client.example");

    auto r = transaction(h, {{"{tls_version}", "TLSv1.2"}}, some_headers, {{"i", "NOAUTH"}});
    BOOST_TEST(r.all == "CONTINUE");
    // Not sealed, but a forged header is still deleted.
    r = transaction(h, {}, {{"X-Sealed-Info", "v=1; k=a; d=forged"}}, {{"i", "NOAUTH2"}});
    BOOST_TEST(r.all == "CHGHEADER index=1 name=\"X-Sealed-Info\" value=\"\"; CONTINUE");
    // An empty {auth_authen} is no login.
    r = transaction(h, {{"{auth_authen}", ""}}, some_headers, {{"i", "EMPTY"}});
    BOOST_TEST(r.all == "CONTINUE");

    r = transaction(h, {{"{auth_authen}", "bob"}}, some_headers, {{"i", "AUTH"}});
    BOOST_TEST_REQUIRE(r.added.size() == 1u, r.all);
    const auto o = opened(r.added[0].value);
    BOOST_TEST(o.at("auth_user") == "bob");
    BOOST_TEST(o.at("queue_id") == "AUTH");
}

// Nothing from the MTA but what it must send: every key present, null where nothing came.
BOOST_AUTO_TEST_CASE(missing_macros_are_null) {
    reset_settings guard;
    cm::testing::harness h{examples::seal};
    h.connect("unknown", "", 0, proto::address_family::unknown);
    const auto r = transaction(h, {}, some_headers, {});
    BOOST_TEST_REQUIRE(r.added.size() == 1u, r.all);
    const auto o = opened(r.added[0].value);
    BOOST_TEST(o.size() == 10u);
    for (const char* key : {"client_address", "client_port", "helo", "auth_user", "tls_version", "tls_cipher",
                            "tls_cipher_bits", "queue_id"})
        BOOST_TEST(o.at(key).is_null(), key << " is " << json::serialize(o.at(key)));
    BOOST_TEST(o.at("client_name") == "unknown");
    BOOST_TEST(o.at("time").is_string());
}

// Macros that are there but odd: a cipher_bits that is no number is null, not garbage.
BOOST_AUTO_TEST_CASE(odd_macro_values) {
    reset_settings guard;
    cm::testing::harness h{examples::seal};
    h.connect("[2001:db8::1]", "2001:db8::1", 587, proto::address_family::inet6);
    const auto r = transaction(h, {{"{cipher_bits}", "256x"}, {"{cipher}", ""}}, some_headers, {{"i", "Q"}});
    BOOST_TEST_REQUIRE(r.added.size() == 1u, r.all);
    const auto o = opened(r.added[0].value);
    BOOST_TEST(o.at("client_address") == "2001:db8::1");
    BOOST_TEST(o.at("client_port") == 587);
    BOOST_TEST(o.at("tls_cipher_bits").is_null());
    BOOST_TEST(o.at("tls_cipher").is_null());
}

// An MTA that ignores the milter's macro lists and sends the TLS macros at HELO (Postfix's
// default milter_helo_macros) and the queue id at MAIL: found all the same.
BOOST_AUTO_TEST_CASE(macros_sent_at_earlier_stages_count) {
    reset_settings guard;
    cm::testing::harness h{examples::seal};
    h.connect();
    h.macros('H', {{"{tls_version}", "TLSv1.2"}, {"{cipher}", "ECDHE-RSA-AES128-GCM-SHA256"}, {"{cipher_bits}", "128"}});
    h.helo("client.example");
    const auto r = transaction(h, {{"i", "EARLY"}, {"{auth_authen}", "carol"}}, some_headers, {});
    BOOST_TEST_REQUIRE(r.added.size() == 1u, r.all);
    const auto o = opened(r.added[0].value);
    BOOST_TEST(o.at("tls_version") == "TLSv1.2");
    BOOST_TEST(o.at("tls_cipher") == "ECDHE-RSA-AES128-GCM-SHA256");
    BOOST_TEST(o.at("tls_cipher_bits") == 128);
    BOOST_TEST(o.at("queue_id") == "EARLY");
    BOOST_TEST(o.at("auth_user") == "carol");
}

// A HELO of 8-bit garbage still gives valid JSON (U+FFFD for what is not UTF-8).
BOOST_AUTO_TEST_CASE(eight_bit_helo_stays_valid_json) {
    reset_settings guard;
    cm::testing::harness h{examples::seal};
    h.connect();
    h.helo("caf\xe9\xff.example \"quoted\"\x01");
    const auto r = transaction(h, {}, some_headers, {});
    BOOST_TEST_REQUIRE(r.added.size() == 1u, r.all);
    BOOST_TEST(opened(r.added[0].value).at("helo") == "caf\xEF\xBF\xBD\xEF\xBF\xBD.example \"quoted\"\x01");
}

// Messages of one connection: the connection's facts stay, a message's macros do not leak.
BOOST_AUTO_TEST_CASE(one_connection_many_messages) {
    reset_settings guard;
    cm::testing::harness h{examples::seal};
    h.connect("client.example", "192.0.2.9", 2525);
    h.helo("first.example");
    auto r = transaction(h, full_mail_macros, some_headers, {{"i", "ONE"}});
    BOOST_TEST_REQUIRE(r.added.size() == 1u, r.all);
    BOOST_TEST(opened(r.added[0].value).at("auth_user") == "alice");
    h.helo("second.example"); // EHLO again (after STARTTLS, say): the latest counts
    r = transaction(h, {}, some_headers, {{"i", "TWO"}});
    BOOST_TEST_REQUIRE(r.added.size() == 1u, r.all);
    const auto o = opened(r.added[0].value);
    BOOST_TEST(o.at("auth_user").is_null());
    BOOST_TEST(o.at("tls_version").is_null());
    BOOST_TEST(o.at("queue_id") == "TWO");
    BOOST_TEST(o.at("helo") == "second.example");
    BOOST_TEST(o.at("client_port") == 2525);
}

BOOST_AUTO_TEST_CASE(key_rotation_seals_with_the_chosen_key) {
    reset_settings guard;
    const std::vector<std::string> both{keys().path("a.pub"), "b=" + keys().path("b.pub")};
    for (const std::string id : {"b", "a"}) {
        seal_options.set(settings_with(both, id));
        cm::testing::harness h{examples::seal};
        h.connect();
        const auto r = transaction(h, {}, some_headers, {{"i", "ROT"}});
        BOOST_TEST_REQUIRE(r.added.size() == 1u, r.all);
        BOOST_TEST(sealed::parse(r.added[0].value).key_id == id);
        BOOST_TEST(opened(r.added[0].value, id).at("queue_id") == "ROT");
        const auto box = sealed::from_base64(sealed::parse(r.added[0].value).data);
        BOOST_TEST(!sealed::open(*box, keys().pairs.at(id == "a" ? "b" : "a").secret_key)); // not the other one
    }
}

BOOST_AUTO_TEST_CASE(another_header_name_and_a_long_key_id) {
    reset_settings guard;
    const std::string id(32, 'k');
    seal_options.set(settings_with({id + "=" + keys().path("a.pub")}, "", false, "X-Submission-Trace-Info"));
    cm::testing::harness h{examples::seal};
    h.connect();
    const auto r = transaction(h, {}, {{"X-Sealed-Info", "not ours: left alone"}}, {{"i", "N"}});
    BOOST_TEST_REQUIRE(r.added.size() == 1u, r.all);
    BOOST_TEST(r.changed.empty());
    BOOST_TEST(r.added[0].name == "X-Submission-Trace-Info");
    check_folding(r.added[0].name, r.added[0].value);
    BOOST_TEST(sealed::parse(r.added[0].value).key_id == id);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(seal_settings_check)

// Each bad setting is refused with one line that names the option; the keys in use stay.
BOOST_AUTO_TEST_CASE(bad_settings_are_refused_and_the_old_keys_stay) {
    reset_settings guard;
    const auto& k = keys();
    struct bad {
        seal_settings settings;
        std::string starts;
    };
    const std::vector<bad> cases{
        {settings_with({}), "--public-key: none given"},
        {settings_with({k.path("missing.pub")}), "--public-key " + k.path("missing.pub") + ": cannot be read: No such file"},
        {settings_with({k.path("short.pub")}), "--public-key " + k.path("short.pub") + ": the key is 16 bytes, not 32"},
        {settings_with({k.path("garbage.pub")}), "--public-key " + k.path("garbage.pub") + ": not a key"},
        {settings_with({k.path("empty.pub")}), "--public-key " + k.path("empty.pub") + ": the key is 0 bytes"},
        {settings_with({"bad id=" + k.path("a.pub")}), "--public-key bad id="},
        {settings_with({k.path("a.pub"), "a=" + k.path("b.pub")}), "--public-key: the id 'a' is given twice"},
        {settings_with({k.path("a.pub"), k.path("b.pub")}), "--key-id: needed to choose among 2 public keys"},
        {settings_with({k.path("a.pub")}, "c"), "--key-id: no --public-key is named 'c'"},
        {settings_with({k.path("a.pub")}, "", false, "X Bad:"), "--header: 'X Bad:' is not a header field name"},
    };
    for (const auto& c : cases) {
        BOOST_CHECK_EXCEPTION(seal_options.set(c.settings), cm::settings_error, [&](const cm::settings_error& e) {
            const std::string what = e.what();
            BOOST_TEST_INFO(what);
            BOOST_TEST(what.find('\n') == std::string::npos);
            return what.starts_with(c.starts);
        });
    }
    BOOST_TEST(seal_options.current().sealing_key().id == "a");
    BOOST_TEST((seal_options.current().sealing_key().bytes == k.pairs.at("a").public_key));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(seal_format)

BOOST_AUTO_TEST_CASE(tampered_or_wrong_key_does_not_open) {
    sealed::named_key a{"a", keys().pairs.at("a").public_key};
    const std::string value = sealed::seal(a, R"({"x":1})");
    const auto parsed = sealed::parse(cm::mail::fold("X-Sealed-Info", value));
    auto box = sealed::from_base64(parsed.data);
    BOOST_TEST_REQUIRE(box.has_value());
    BOOST_TEST(sealed::open(*box, keys().pairs.at("a").secret_key).value_or("") == R"({"x":1})");
    BOOST_TEST(!sealed::open(*box, keys().pairs.at("b").secret_key));
    for (std::size_t at : {std::size_t{0}, box->size() / 2, box->size() - 1}) {
        std::string changed = *box;
        changed[at] = static_cast<char>(changed[at] ^ 1);
        BOOST_TEST(!sealed::open(changed, keys().pairs.at("a").secret_key), "flipped bit in byte " << at);
    }
    BOOST_TEST(!sealed::open(box->substr(0, 47), keys().pairs.at("a").secret_key));
}

BOOST_AUTO_TEST_CASE(malformed_values_are_refused) {
    auto refused = [](std::string_view value, std::string_view why) {
        BOOST_CHECK_EXCEPTION(sealed::parse(value), sealed::error,
                              [&](const sealed::error& e) { return std::string_view{e.what()} == why; });
    };
    refused("k=a; d=AAAA", "no v= tag");
    refused("v=2; k=a; d=AAAA", "version v=2 is not 1");
    refused("v=1; k=a", "no d= tag");
    refused("v=1; garbage; d=AAAA", "malformed tag 'garbage'");
    BOOST_TEST(sealed::parse(" v = 1 ;k=x;\n\td=AA AA;future=yes; ").data == "AA AA");
    BOOST_TEST(!sealed::from_base64("AAA!"));
    BOOST_TEST(!sealed::from_base64("AAA")); // padding is required
    BOOST_TEST(sealed::from_base64("QU\n JD").value_or("") == "ABC");
}

BOOST_AUTO_TEST_SUITE_END()
