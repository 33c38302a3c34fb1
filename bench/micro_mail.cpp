// Micro-benchmark of the message toolkit (cppmilter::mail) per typical message, and of the
// editable message at end of message against the same edits built by hand. See bench/README.md.
#include "support.hpp"

#include <cppmilter/cppmilter.hpp>
#include <cppmilter/mail/address.hpp>
#include <cppmilter/mail/domain.hpp>
#include <cppmilter/mail/encoded_word.hpp>
#include <cppmilter/mail/header.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace cm = cppmilter;
namespace mail = cppmilter::mail;
namespace proto = cppmilter::proto;

namespace {

using bench::add_macro;
using bench::checked;
using bench::fail;
using bench::pairs;

// ---------------------------------------------------------------- the typical message

struct field {
    std::string_view name, raw;
};

/// A realistic header block as the MTA hands it to a milter (PROTOCOL.md §3.6: folded lines
/// joined by "\n", the leading space of the value removed): 15 fields, 3 of them addresses,
/// the Subject in two UTF-8 B encoded words folded between them.
constexpr std::array<field, 15> header_block{{
    {"Received", "from mail.sender.co.uk (mail.sender.co.uk [198.51.100.7])\n"
                 "\tby mx.example.com (Postfix) with ESMTPS id 4F1A000001\n"
                 "\tfor <alice@example.com>; Tue, 24 Nov 2026 10:00:02 +0000 (UTC)"},
    {"Received", "from [10.0.0.5] (unknown [203.0.113.9])\n"
                 "\t(Authenticated sender: jane.doe)\n"
                 "\tby mail.sender.co.uk (Postfix) with ESMTPSA id 9C3D2A1B2\n"
                 "\tfor <alice@example.com>; Tue, 24 Nov 2026 10:00:01 +0100 (CET)"},
    {"Received", "by 2002:a05:6402:1234:b0:5c4:aaaa:bbbb with SMTP id a1b2c3d4e5f6;\n"
                 "        Tue, 24 Nov 2026 01:00:00 -0800 (PST)"},
    {"From", "\"Jane Q. Doe\" <jane.doe@mail.sender.co.uk>"},
    {"To", "Alice Example <alice@example.com>, bob@sub.example.org,\n"
           " \"Carol M.\" <carol@b\xc3\xbc" "cher.de>"},
    {"Cc", "Dave <dave@lists.example.net>"},
    {"Subject", "Re: =?UTF-8?B?UmFwcG9ydCB0cmltZXN0cmllbCDigJQgcsOpc3VsdGF0cw==?=\n"
                " =?UTF-8?B?IGV0IHByw6l2aXNpb25zIDIwMjcg8J+agA==?="},
    {"Date", "Tue, 24 Nov 2026 10:00:00 +0100"},
    {"Message-ID", "<20261124100000.4F1A000001@mail.sender.co.uk>"},
    {"MIME-Version", "1.0"},
    {"Content-Type", "multipart/alternative;\n\tboundary=\"000000000000a1b2c3d4e5f6a7b8\""},
    {"DKIM-Signature", "v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender.co.uk; s=sel2026;\n"
                       "\tt=1795514400; h=from:to:cc:subject:date:message-id:mime-version\n"
                       "\t:content-type:list-unsubscribe;\n"
                       "\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\n"
                       "\tb=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR\n"
                       "\t 9pLMQvCOAhWeu2bKVwE5oe8ku7B6i4hxBUNa5cF2Tuzdu+2P0pHOwsTkwPi8UAYDK\n"
                       "\t QhY3Yb7pQ3ZdWMRcF0+mNxkP9hJrTdGjCEi0LWbvmU4OwVoS8vA1aGaBkk2JQ="},
    {"List-Unsubscribe", "<mailto:unsubscribe@lists.example.net?subject=unsubscribe>,\n"
                         " <https://lists.example.net/unsubscribe/a1b2c3d4>"},
    {"List-Id", "Quarterly reports <reports.lists.example.net>"},
    {"X-Mailer", "Apple Mail (2.3774.500.171.1.1)"},
}};

/// The unstructured fields decoded with decode_unstructured(), and the address fields parsed
/// with parse_address_list() (indexes into header_block).
constexpr std::array<std::size_t, 2> unstructured_fields{6, 14}; // Subject, X-Mailer
constexpr std::array<std::size_t, 3> address_fields{3, 4, 5};    // From, To, Cc

constexpr std::string_view expected_subject =
    "Re: Rapport trimestriel \xe2\x80\x94 r\xc3\xa9sultats et pr\xc3\xa9visions 2027 \xf0\x9f\x9a\x80";
/// The domains of the 5 mailboxes of From, To and Cc, their organisational domains and ASCII forms.
constexpr std::array<std::string_view, 5> expected_domains{"mail.sender.co.uk", "example.com", "sub.example.org",
                                                           "b\xc3\xbc" "cher.de", "lists.example.net"};
constexpr std::array<std::string_view, 5> expected_org{"sender.co.uk", "example.com", "example.org",
                                                       "b\xc3\xbc" "cher.de", "example.net"};
constexpr std::array<std::string_view, 5> expected_ascii{"mail.sender.co.uk", "example.com", "sub.example.org",
                                                         "xn--bcher-kva.de", "lists.example.net"};

/// Operations per message, for items_per_second.
constexpr std::size_t unfold_ops = header_block.size();
constexpr std::size_t decode_ops = unstructured_fields.size();
constexpr std::size_t address_ops = address_fields.size();
constexpr std::size_t domain_ops = expected_domains.size();

/// The inputs of each operation, prepared once: unfolded values, and the domains.
struct prepared {
    std::array<std::string, header_block.size()> unfolded;
    std::vector<std::string> domains;
};

const prepared& inputs() {
    static const prepared p = [] {
        prepared r;
        for (std::size_t i = 0; i < header_block.size(); ++i) r.unfolded[i] = mail::unfold(header_block[i].raw);
        for (std::size_t f : address_fields)
            for (const auto& m : mail::parse_address_list(r.unfolded[f]).mailboxes) r.domains.push_back(m.domain);
        return r;
    }();
    return p;
}

const mail::public_suffix_list& psl() { return mail::public_suffix_list::system(); }

/// Everything of part 1 on one message: unfold every field, decode the unstructured ones,
/// parse the address fields, organisational domain and ASCII form of every mailbox's domain.
/// Returns a checksum so that nothing is optimised away. noinline: callgrind measures it.
[[gnu::noinline]] std::size_t toolkit_message(const mail::public_suffix_list& list) {
    std::size_t sum = 0;
    std::array<std::string, header_block.size()> unfolded;
    for (std::size_t i = 0; i < header_block.size(); ++i) {
        unfolded[i] = mail::unfold(header_block[i].raw);
        sum += unfolded[i].size();
    }
    for (std::size_t f : unstructured_fields) sum += mail::decode_unstructured(unfolded[f]).size();
    for (std::size_t f : address_fields) {
        const auto list_result = mail::parse_address_list(unfolded[f]);
        for (const auto& m : list_result.mailboxes) {
            if (auto org = list.organizational_domain(m.domain)) sum += org->size();
            if (auto ascii = mail::to_ascii(m.domain)) sum += ascii->size();
        }
    }
    return sum;
}

/// The toolkit's results must be the expected ones (exit 1 otherwise).
void check_toolkit() {
    const auto& in = inputs();
    if (in.unfolded[0].find('\n') != std::string::npos) fail("unfold left a line break", in.unfolded[0]);
    if (auto s = mail::decode_unstructured(in.unfolded[6]); s != expected_subject) fail("decoded Subject", s);
    const std::array<std::size_t, 3> mailboxes{1, 3, 1};
    for (std::size_t k = 0; k < address_fields.size(); ++k) {
        const auto r = mail::parse_address_list(in.unfolded[address_fields[k]]);
        if (!r.ok() || r.mailboxes.size() != mailboxes[k]) fail("parse_address_list", in.unfolded[address_fields[k]]);
    }
    if (mail::parse_address_list(in.unfolded[3]).mailboxes[0].display_name != "Jane Q. Doe") fail("From display name");
    if (in.domains.size() != expected_domains.size()) fail("number of domains");
    for (std::size_t i = 0; i < expected_domains.size(); ++i) {
        if (in.domains[i] != expected_domains[i]) fail("domain", in.domains[i]);
        if (psl().organizational_domain(in.domains[i]) != expected_org[i]) fail("organizational_domain", in.domains[i]);
        if (mail::to_ascii(in.domains[i]) != expected_ascii[i]) fail("to_ascii", in.domains[i]);
    }
}

void set_counters(benchmark::State& state, std::size_t ops_per_message) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * ops_per_message));
    state.counters["messages"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_unfold(benchmark::State& state) {
    for (auto _ : state)
        for (const auto& f : header_block) benchmark::DoNotOptimize(mail::unfold(f.raw));
    set_counters(state, unfold_ops);
}

void BM_decode_unstructured(benchmark::State& state) {
    const auto& in = inputs();
    for (auto _ : state)
        for (std::size_t f : unstructured_fields) benchmark::DoNotOptimize(mail::decode_unstructured(in.unfolded[f]));
    set_counters(state, decode_ops);
}

void BM_parse_address_list(benchmark::State& state) {
    const auto& in = inputs();
    for (auto _ : state)
        for (std::size_t f : address_fields) benchmark::DoNotOptimize(mail::parse_address_list(in.unfolded[f]));
    set_counters(state, address_ops);
}

void BM_organizational_domain(benchmark::State& state) {
    const auto& in = inputs();
    const auto& list = psl();
    for (auto _ : state)
        for (const auto& d : in.domains) benchmark::DoNotOptimize(list.organizational_domain(d));
    set_counters(state, domain_ops);
}

void BM_to_ascii(benchmark::State& state) {
    const auto& in = inputs();
    for (auto _ : state)
        for (const auto& d : in.domains) benchmark::DoNotOptimize(mail::to_ascii(d));
    set_counters(state, domain_ops);
}

void BM_toolkit_message(benchmark::State& state) {
    const auto& list = psl();
    for (auto _ : state) benchmark::DoNotOptimize(toolkit_message(list));
    set_counters(state, unfold_ops + decode_ops + address_ops + 2 * domain_ops);
}

BENCHMARK(BM_unfold);
BENCHMARK(BM_decode_unstructured);
BENCHMARK(BM_parse_address_list);
BENCHMARK(BM_organizational_domain);
BENCHMARK(BM_to_ascii);
BENCHMARK(BM_toolkit_message);

// ---------------------------------------------------------------- 2. the editable message

/// Messages per transcript (one SMTP connection).
constexpr int messages_per_session = 100;

/// One Postfix connection: OPTNEG offering everything, CONNECT, HELO, then `messages`
/// messages (MAIL, 3 RCPT, DATA, the 15 headers of header_block, EOH, 1 KiB of body, EOB,
/// ABORT), QUIT; every command preceded by its MACRO packet.
std::string make_transcript(int messages) {
    std::string t;
    checked(proto::encode(t, proto::optneg{6, proto::all_actions, proto::all_protocol}), "encode OPTNEG");
    add_macro(t, 'C', {{"j", "mx.example.com"}, {"v", "Postfix 3.7.11"}, {"{daemon_name}", "mx.example.com"},
                       {"{client_addr}", "198.51.100.7"}, {"_", "mail.sender.co.uk [198.51.100.7]"}});
    checked(proto::encode(t, proto::connect{"mail.sender.co.uk", proto::address_family::inet, 54321, "198.51.100.7"}),
            "encode CONNECT");
    add_macro(t, 'H', {{"{tls_version}", "TLSv1.3"}, {"{cipher}", "TLS_AES_256_GCM_SHA384"}});
    checked(proto::encode(t, proto::helo{"mail.sender.co.uk"}), "encode HELO");

    std::string body;
    for (int line = 0; body.size() < 1024; ++line)
        body += "Line " + std::to_string(line) + " of a plain text body, long enough to look real.\r\n";
    body.resize(1024);
    body.replace(1022, 2, "\r\n");

    for (int m = 0; m < messages; ++m) {
        char qid[16];
        std::snprintf(qid, sizeof qid, "4F1A%06X", m);
        add_macro(t, 'M', {{"i", qid}, {"{mail_addr}", "jane.doe@mail.sender.co.uk"}, {"{mail_mailer}", "smtp"}});
        const std::array<std::string_view, 2> mail_args{"SIZE=8192", "BODY=8BITMIME"};
        checked(proto::encode_mail(t, "<jane.doe@mail.sender.co.uk>", mail_args), "encode MAIL");
        for (const char* rcpt : {"<alice@example.com>", "<bob@sub.example.org>", "<dave@lists.example.net>"}) {
            const std::string_view r{rcpt};
            add_macro(t, 'R', {{"{rcpt_addr}", r.substr(1, r.size() - 2)}, {"{rcpt_mailer}", "smtp"}});
            const std::array<std::string_view, 1> rcpt_args{"NOTIFY=NEVER"};
            checked(proto::encode_rcpt(t, r, rcpt_args), "encode RCPT");
        }
        add_macro(t, 'T', {{"i", qid}});
        checked(proto::encode(t, proto::data{}), "encode DATA");
        for (const auto& f : header_block) {
            add_macro(t, 'L', {{"i", qid}});
            checked(proto::encode(t, proto::header{f.name, f.raw}), "encode HEADER");
        }
        add_macro(t, 'N', {{"i", qid}});
        checked(proto::encode(t, proto::end_of_headers{}), "encode EOH");
        add_macro(t, 'B', {{"i", qid}});
        checked(proto::encode(t, proto::body{body}), "encode BODY");
        add_macro(t, 'E', {{"i", qid}});
        checked(proto::encode(t, proto::end_of_body{}), "encode EOB");
        checked(proto::encode(t, proto::abort{}), "encode ABORT");
    }
    checked(proto::encode(t, proto::quit{}), "encode QUIT");
    return t;
}

const std::string& transcript() {
    static const std::string t = make_transcript(messages_per_session);
    return t;
}

/// The three edits: a header at the very top (where a signature or Authentication-Results
/// goes), the 2nd Received rewritten (the submitter's address taken out), a header at the end.
constexpr std::string_view top_name = "Authentication-Results";
constexpr std::string_view top_value = "mx.example.com; dkim=pass header.d=sender.co.uk header.s=sel2026;\n"
                                       "\tspf=pass smtp.mailfrom=mail.sender.co.uk";
constexpr std::string_view changed_name = "Received";
constexpr std::string_view changed_value = "from [redacted]\n\tby mail.sender.co.uk (Postfix) with ESMTPSA id 9C3D2A1B2;\n"
                                           "\tTue, 24 Nov 2026 10:00:01 +0100 (CET)";
constexpr std::string_view end_name = "X-Bench";
constexpr std::string_view end_value = "1";

/// (a) The modifications built by hand, indexes included (INSHEADER 0 is the top on every MTA;
/// occurrence 2 of Received). It negotiates exactly what (b) does (checked below): an editable
/// message that declares no envelope edit keeps no envelope.
inline constexpr auto handbuilt_milter = cm::milter(
    cm::on_end_of_message([](const cm::message_headers&) -> cm::eom<cm::insert_header, cm::change_header, cm::add_header> {
        cm::eom<cm::insert_header, cm::change_header, cm::add_header> r;
        r.add(cm::insert_header{0, std::string{top_name}, std::string{top_value}});
        r.add(cm::change_header{std::string{changed_name}, 2, std::string{changed_value}});
        r.add(cm::add_header{std::string{end_name}, std::string{end_value}});
        return r;
    }));

/// (b) The same edits on the editable message; the framework works out the indexes.
inline constexpr auto edit_milter = cm::milter(cm::on_end_of_message([](cm::editable<cm::edit::headers>& msg) {
    msg.insert_header(0, std::string{top_name}, std::string{top_value});
    msg.set_header(changed_name, std::string{changed_value}, 2);
    msg.append_header(std::string{end_name}, std::string{end_value});
}));

using handbuilt_pipeline = std::remove_cvref_t<decltype(handbuilt_milter)>;
using edit_pipeline = std::remove_cvref_t<decltype(edit_milter)>;
static_assert(handbuilt_pipeline::negotiation.request().actions == edit_pipeline::negotiation.request().actions);
static_assert(handbuilt_pipeline::negotiation.request().protocol == edit_pipeline::negotiation.request().protocol);

/// One connection of each milter over the whole transcript. noinline: callgrind measures them.
[[gnu::noinline]] std::size_t run_handbuilt(proto::command_decoder& decoder, std::string_view bytes, std::string& out) {
    return bench::run_connection<handbuilt_milter>(decoder, bytes, out);
}
[[gnu::noinline]] std::size_t run_edit(proto::command_decoder& decoder, std::string_view bytes, std::string& out) {
    return bench::run_connection<edit_milter>(decoder, bytes, out);
}

template <bench::session_runner Run>
void run_benchmark(benchmark::State& state) {
    bench::run_benchmark<Run>(state, transcript(), messages_per_session);
}

void BM_eom_handbuilt(benchmark::State& state) { run_benchmark<run_handbuilt>(state); }
void BM_eom_edit(benchmark::State& state) { run_benchmark<run_edit>(state); }
BENCHMARK(BM_eom_handbuilt);
BENCHMARK(BM_eom_edit);

/// Both milters must answer the transcript with the same bytes, and those must be the OPTNEG
/// reply then, per message, INSHEADER 0, CHGHEADER 2 Received, ADDHEADER, CONTINUE.
void check_same_output() {
    proto::command_decoder decoder;
    std::string edit, hand;
    run_edit(decoder, transcript(), edit);
    run_handbuilt(decoder, transcript(), hand);
    bench::expect_same_answers("the editable message and the hand-built modifications answer differently (edit, "
                               "hand-built)",
                               edit, hand);
    proto::reply_decoder replies;
    replies.feed(edit);
    int optneg = 0, continues = 0, inserts = 0, changes = 0, adds = 0, other = 0;
    while (auto r = replies.next()) {
        if (!*r) fail("decode own output", r->error().message());
        const auto& reply = **r;
        if (const auto* i = std::get_if<proto::insert_header>(&reply)) {
            if (i->index != 0 || i->name != top_name || i->value != top_value) fail("unexpected INSHEADER");
            ++inserts;
        } else if (const auto* c = std::get_if<proto::change_header>(&reply)) {
            if (c->index != 2 || c->name != changed_name || c->value != changed_value) fail("unexpected CHGHEADER");
            ++changes;
        } else if (const auto* a = std::get_if<proto::add_header>(&reply)) {
            if (a->name != end_name || a->value != end_value) fail("unexpected ADDHEADER");
            ++adds;
        } else {
            switch (proto::kind_of(reply)) {
            case proto::reply_kind::optneg: ++optneg; break;
            case proto::reply_kind::continue_: ++continues; break;
            default: ++other;
            }
        }
    }
    constexpr int n = messages_per_session;
    if (optneg != 1 || continues != n || inserts != n || changes != n || adds != n || other != 0)
        fail("unexpected answers", "OPTNEG " + std::to_string(optneg) + ", continue " + std::to_string(continues) +
                                       ", INSHEADER " + std::to_string(inserts) + ", CHGHEADER " +
                                       std::to_string(changes) + ", ADDHEADER " + std::to_string(adds) + ", other " +
                                       std::to_string(other));
}

} // namespace

int main(int argc, char** argv) {
    // --run edit|handbuilt|toolkit N: one milter N times over the transcript (or the toolkit N
    // times over the message), without the benchmark library: for callgrind.
    if (argc == 4 && std::strcmp(argv[1], "--run") == 0) {
        const std::string_view which = argv[2];
        const int n = std::atoi(argv[3]);
        if (n < 0) fail("usage", "--run edit|handbuilt|toolkit N");
        if (which == "toolkit") {
            const auto& list = psl();
            std::size_t sum = 0;
            for (int i = 0; i < n; ++i) sum += toolkit_message(list);
            std::printf("toolkit: %d messages, checksum %zu\n", n, sum);
            return 0;
        }
        auto* run = which == "edit" ? &run_edit : which == "handbuilt" ? &run_handbuilt : nullptr;
        if (!run) fail("usage", "--run edit|handbuilt|toolkit N");
        return bench::run_repeatedly(which, run, n, transcript(), messages_per_session);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    check_toolkit();
    check_same_output();
    std::size_t block_bytes = 0;
    for (const auto& f : header_block) block_bytes += f.name.size() + 2 + f.raw.size() + 2; // "name: raw\r\n"
    benchmark::AddCustomContext("header block", std::to_string(header_block.size()) + " fields, " +
                                                    std::to_string(block_bytes) + " bytes");
    benchmark::AddCustomContext("public suffix list", psl().source());
    benchmark::AddCustomContext("transcript", std::to_string(transcript().size()) + " bytes, " +
                                                  std::to_string(messages_per_session) + " messages");
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
