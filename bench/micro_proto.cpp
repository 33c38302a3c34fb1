// Micro-benchmarks of the sans-I/O protocol core (include/cppmilter/proto/): decoding and
// encoding of each MTA command kind and of the filter's usual replies, and the filter_session
// state machine over one Postfix-like message. See bench/README.md ("Protocol core").
#include <cppmilter/proto/commands.hpp>
#include <cppmilter/proto/constants.hpp>
#include <cppmilter/proto/decoder.hpp>
#include <cppmilter/proto/encoder.hpp>
#include <cppmilter/proto/error.hpp>
#include <cppmilter/proto/replies.hpp>
#include <cppmilter/proto/session.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace proto = cppmilter::proto;

namespace {

/// Each decode buffer holds at least this many bytes (and at least one packet).
constexpr std::size_t min_buffer_bytes = 64 * 1024;

[[noreturn]] void fail(std::string_view what, std::string_view detail = {}) {
    std::fprintf(stderr, "micro_proto: %.*s%s%.*s\n", static_cast<int>(what.size()), what.data(),
                 detail.empty() ? "" : ": ", static_cast<int>(detail.size()), detail.data());
    std::exit(EXIT_FAILURE);
}

void checked(const proto::result<void>& r, std::string_view what) {
    if (!r) fail(what, r.error().message());
}

template <class T>
std::string printed(const T& x) {
    std::ostringstream os;
    os << x;
    return os.str();
}

/// Set by every SkipWithError: main() then exits with 1, so the smoke test fails too.
bool benchmark_failed = false;

void skip_with_error(benchmark::State& state, const std::string& message) {
    benchmark_failed = true;
    state.SkipWithError(message.c_str());
}

// ---------------------------------------------------------------- fixture contents

using pairs = std::initializer_list<std::pair<std::string_view, std::string_view>>;

void add_macro(std::string& out, char stage, pairs p) {
    checked(proto::encode_macro(out, stage, std::span{p.begin(), p.size()}), "encode MACRO");
}

/// `size` bytes of plain CRLF-terminated text lines (the last line may be cut short).
std::string text_body(std::size_t size) {
    std::string body;
    for (int line = 0; body.size() < size; ++line)
        body += "Line " + std::to_string(line) + " of a plain text body, long enough to look real.\r\n";
    body.resize(size);
    body.replace(size - 2, 2, "\r\n");
    return body;
}

const std::string& body_1k() {
    static const std::string b = text_body(1024);
    return b;
}

const std::string& body_64k() {
    static const std::string b = text_body(proto::max_body_chunk); // 65535: the largest chunk
    return b;
}

/// Postfix's default milter_connect_macros (j {daemon_name} {daemon_addr} v _) plus the
/// {client_*} macros milters commonly add.
void connect_macros(std::string& out) {
    add_macro(out, 'C', {{"j", "mx.example.org"},
                         {"{daemon_name}", "mx.example.org"},
                         {"{daemon_addr}", "192.0.2.1"},
                         {"v", "Postfix 3.7.11"},
                         {"_", "mail.client.example.net [198.51.100.7]"},
                         {"{client_addr}", "198.51.100.7"},
                         {"{client_port}", "49152"},
                         {"{client_name}", "mail.client.example.net"},
                         {"{client_ptr}", "mail.client.example.net"}});
}

const std::array<std::string_view, 2> mail_args{"SIZE=48213", "BODY=8BITMIME"};
const std::array<std::string_view, 1> rcpt_args{"ORCPT=rfc822;alice@rcpt.example"};

// ---------------------------------------------------------------- fixtures

/// One kind of packet: `one` holds exactly one packet, `message` is that packet decoded (views
/// into `one`), `wire` holds `count` copies of `one` (at least min_buffer_bytes). Allocated once
/// and never moved, so the views stay valid.
template <class Message>
struct fixture {
    std::string name;
    std::string one;
    Message message;
    std::size_t count = 0;
    std::string wire;
};

using command_fixture = fixture<proto::command>;
using reply_fixture = fixture<proto::reply>;

struct command_spec {
    const char* name;
    proto::command_kind kind;
    void (*build)(std::string&);
};

struct reply_spec {
    const char* name;
    proto::reply_kind kind;
    void (*build)(std::string&);
};

const command_spec command_specs[] = {
    {"OPTNEG", proto::command_kind::optneg,
     [](std::string& o) { checked(proto::encode(o, proto::optneg{6, proto::all_actions, proto::all_protocol}), "OPTNEG"); }},
    {"MACRO", proto::command_kind::macro, connect_macros},
    {"CONNECT", proto::command_kind::connect,
     [](std::string& o) {
         checked(proto::encode(o, proto::connect{"mail.client.example.net", proto::address_family::inet, 49152,
                                                 "198.51.100.7"}),
                 "CONNECT");
     }},
    {"HELO", proto::command_kind::helo,
     [](std::string& o) { checked(proto::encode(o, proto::helo{"mail.client.example.net"}), "HELO"); }},
    {"MAIL", proto::command_kind::mail,
     [](std::string& o) { checked(proto::encode_mail(o, "<sender@example.org>", mail_args), "MAIL"); }},
    {"RCPT", proto::command_kind::rcpt,
     [](std::string& o) { checked(proto::encode_rcpt(o, "<alice@rcpt.example>", rcpt_args), "RCPT"); }},
    {"DATA", proto::command_kind::data, [](std::string& o) { checked(proto::encode(o, proto::data{}), "DATA"); }},
    {"HEADER", proto::command_kind::header,
     [](std::string& o) { checked(proto::encode(o, proto::header{"Subject", "Re: Quarterly report, third quarter"}), "HEADER"); }},
    {"EOH", proto::command_kind::end_of_headers,
     [](std::string& o) { checked(proto::encode(o, proto::end_of_headers{}), "EOH"); }},
    {"BODY_1KiB", proto::command_kind::body,
     [](std::string& o) { checked(proto::encode(o, proto::body{body_1k()}), "BODY 1 KiB"); }},
    {"BODY_64KiB", proto::command_kind::body,
     [](std::string& o) { checked(proto::encode(o, proto::body{body_64k()}), "BODY 64 KiB"); }},
    {"BODYEOB", proto::command_kind::end_of_body,
     [](std::string& o) { checked(proto::encode(o, proto::end_of_body{}), "BODYEOB"); }},
    {"ABORT", proto::command_kind::abort, [](std::string& o) { checked(proto::encode(o, proto::abort{}), "ABORT"); }},
    {"UNKNOWN", proto::command_kind::unknown,
     [](std::string& o) { checked(proto::encode(o, proto::unknown{"XSHOWQ"}), "UNKNOWN"); }},
    {"QUIT", proto::command_kind::quit, [](std::string& o) { checked(proto::encode(o, proto::quit{}), "QUIT"); }},
};

const reply_spec reply_specs[] = {
    {"CONTINUE", proto::reply_kind::continue_,
     [](std::string& o) { checked(proto::encode(o, proto::continue_{}), "CONTINUE"); }},
    {"ADDHEADER", proto::reply_kind::add_header,
     [](std::string& o) {
         checked(proto::encode(o, proto::add_header{"X-Spam-Status", "No, score=-0.1 required=5.0 tests=ALL_TRUSTED"}),
                 "ADDHEADER");
     }},
    {"CHGHEADER", proto::reply_kind::change_header,
     [](std::string& o) {
         checked(proto::encode(o, proto::change_header{1, "Subject", "[SPAM] Re: Quarterly report, third quarter"}),
                 "CHGHEADER");
     }},
    {"REPLYCODE", proto::reply_kind::smtp_reply,
     [](std::string& o) {
         auto text = proto::format_smtp_reply(550, "5.7.1",
                                              "Message rejected as spam (score 12.4, 100% sure)\n"
                                              "See https://postmaster.example.org/policy for details\n"
                                              "Contact postmaster@example.org if you think this is wrong");
         if (!text) fail("format REPLYCODE", text.error().message());
         checked(proto::encode(o, proto::smtp_reply{*text}), "REPLYCODE");
     }},
    {"REPLBODY_64KiB", proto::reply_kind::replace_body,
     [](std::string& o) { checked(proto::encode(o, proto::replace_body{body_64k()}), "REPLBODY"); }},
    {"QUARANTINE", proto::reply_kind::quarantine,
     [](std::string& o) { checked(proto::encode(o, proto::quarantine{"suspicious attachment (invoice.zip)"}), "QUARANTINE"); }},
    {"OPTNEG", proto::reply_kind::optneg,
     [](std::string& o) {
         proto::optneg_reply r;
         r.version = 6;
         r.actions = proto::action::add_headers | proto::action::change_headers | proto::action::quarantine |
                     proto::action::set_symbol_list;
         r.protocol = proto::protocol::no_reply_connect | proto::protocol::no_reply_helo |
                      proto::protocol::no_reply_rcpt | proto::protocol::no_reply_header |
                      proto::protocol::no_unknown | proto::protocol::no_data | proto::protocol::header_leading_space;
         r.macros[static_cast<std::size_t>(proto::macro_stage::connect)] = "j {client_addr} {client_name}";
         r.macros[static_cast<std::size_t>(proto::macro_stage::end_of_message)] = "i {msg_id}";
         checked(proto::encode(o, r), "OPTNEG reply");
     }},
};

/// The one packet in `one`, parsed.
template <class Message, proto::result<Message> (*Parse)(proto::packet)>
Message parse_single(std::string_view name, std::string_view one) {
    if (one.size() < proto::length_prefix_size + 1) fail(name, "shorter than one packet");
    const auto* p = reinterpret_cast<const unsigned char*>(one.data());
    const std::uint32_t len = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                              (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
    if (proto::length_prefix_size + len != one.size()) fail(name, "the builder did not write exactly one packet");
    auto r = Parse(proto::packet{one[proto::length_prefix_size], one.substr(proto::length_prefix_size + 1)});
    if (!r) fail(name, r.error().message());
    return *r;
}

template <class Message, proto::result<Message> (*Parse)(proto::packet), class Spec>
std::unique_ptr<fixture<Message>> make_fixture(const Spec& spec, std::string_view prefix) {
    auto f = std::make_unique<fixture<Message>>();
    f->name = std::string{prefix} + spec.name;
    spec.build(f->one);
    f->message = parse_single<Message, Parse>(f->name, f->one);
    if (proto::kind_of(f->message) != spec.kind)
        fail(f->name, "decodes to " + std::string{proto::to_string(proto::kind_of(f->message))});
    f->count = std::max<std::size_t>(1, (min_buffer_bytes + f->one.size() - 1) / f->one.size());
    f->wire.reserve(f->count * f->one.size());
    for (std::size_t i = 0; i < f->count; ++i) f->wire += f->one;
    return f;
}

std::vector<std::unique_ptr<command_fixture>>& command_fixtures() {
    static std::vector<std::unique_ptr<command_fixture>> v = [] {
        std::vector<std::unique_ptr<command_fixture>> out;
        for (const auto& s : command_specs) out.push_back(make_fixture<proto::command, proto::parse_command>(s, ""));
        return out;
    }();
    return v;
}

std::vector<std::unique_ptr<reply_fixture>>& reply_fixtures() {
    static std::vector<std::unique_ptr<reply_fixture>> v = [] {
        std::vector<std::unique_ptr<reply_fixture>> out;
        for (const auto& s : reply_specs) out.push_back(make_fixture<proto::reply, proto::parse_reply>(s, ""));
        return out;
    }();
    return v;
}

// ---------------------------------------------------------------- decode / encode benchmarks

/// Feeds the whole buffer, then takes out every message with next().
template <class Decoder, class Message>
void decode_benchmark(benchmark::State& state, const fixture<Message>& f) {
    Decoder decoder;
    const std::size_t want = f.message.index();
    for (auto _ : state) {
        decoder.feed(f.wire);
        std::size_t n = 0;
        bool wrong = false;
        while (auto r = decoder.next()) {
            if (!*r || r->value().index() != want) {
                wrong = true;
                break;
            }
            benchmark::DoNotOptimize(r->value());
            ++n;
        }
        if (wrong || n != f.count) {
            skip_with_error(state, f.name + (wrong ? ": a packet decoded wrongly"
                                                   : ": " + std::to_string(n) + " packets, expected " +
                                                         std::to_string(f.count)));
            break;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(f.wire.size()));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(f.count));
}

/// Encodes the fixture's message `count` times into a string whose capacity is kept; the
/// message's type is resolved once, outside the timed loop (the typed encode<T> is measured).
template <class Message>
void encode_benchmark(benchmark::State& state, const fixture<Message>& f) {
    std::string out;
    out.reserve(f.wire.size());
    std::visit(
        [&](const auto& m) {
            for (auto _ : state) {
                out.clear();
                bool ok = true;
                for (std::size_t i = 0; i < f.count && ok; ++i) ok = static_cast<bool>(proto::encode(out, m));
                if (!ok || out.size() != f.wire.size()) {
                    skip_with_error(state, f.name + ": encoding failed or has the wrong size");
                    break;
                }
                benchmark::DoNotOptimize(out.data());
                benchmark::ClobberMemory();
            }
        },
        f.message);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(f.wire.size()));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(f.count));
}

// ---------------------------------------------------------------- the session

/// One Postfix-like message's commands, decoded once; the decoder stays alive (and is never
/// fed again) because the commands are views into its buffer.
struct session_transcript {
    std::string setup_wire;   // OPTNEG, MACRO C + CONNECT, MACRO H + HELO
    std::string message_wire; // the message (measured)
    proto::command_decoder decoder;
    std::vector<proto::command> setup;
    std::vector<proto::command> message;
};

/// Hooks that owe an answer in one message: MAIL, RCPT, DATA, 5 HEADER, EOH, BODY, EOB.
constexpr std::size_t answers_per_message = 11;
constexpr std::size_t continue_bytes = 5; // a CONTINUE packet

const session_transcript& transcript() {
    static const std::unique_ptr<session_transcript> t = [] {
        auto s = std::make_unique<session_transcript>();
        std::string& setup = s->setup_wire;
        checked(proto::encode(setup, proto::optneg{6, proto::all_actions, proto::all_protocol}), "encode OPTNEG");
        connect_macros(setup);
        checked(proto::encode(setup, proto::connect{"mail.client.example.net", proto::address_family::inet, 49152,
                                                    "198.51.100.7"}),
                "encode CONNECT");
        add_macro(setup, 'H', {{"{tls_version}", "TLSv1.3"}, {"{cipher}", "TLS_AES_256_GCM_SHA384"}});
        checked(proto::encode(setup, proto::helo{"mail.client.example.net"}), "encode HELO");

        std::string& m = s->message_wire;
        const std::string_view qid = "4Fq1Zk3mQbz1xyW";
        add_macro(m, 'M', {{"i", qid}, {"{auth_type}", ""}, {"{auth_authen}", ""}, {"{auth_author}", ""},
                           {"{mail_addr}", "sender@example.org"}, {"{mail_host}", "example.org"},
                           {"{mail_mailer}", "smtp"}});
        checked(proto::encode_mail(m, "<sender@example.org>", mail_args), "encode MAIL");
        add_macro(m, 'R', {{"i", qid}, {"{rcpt_addr}", "alice@rcpt.example"}, {"{rcpt_host}", ""},
                           {"{rcpt_mailer}", "local"}});
        checked(proto::encode_rcpt(m, "<alice@rcpt.example>", rcpt_args), "encode RCPT");
        add_macro(m, 'T', {{"i", qid}});
        checked(proto::encode(m, proto::data{}), "encode DATA");
        const std::pair<std::string_view, std::string_view> headers[] = {
            {"From", "Sender <sender@example.org>"},
            {"To", "Alice <alice@rcpt.example>"},
            {"Subject", "Re: Quarterly report, third quarter"},
            {"Date", "Wed, 25 Nov 2026 10:00:00 +0000"},
            {"Message-ID", "<4Fq1Zk3mQbz1xyW@example.org>"},
        };
        for (const auto& [name, value] : headers) {
            add_macro(m, 'L', {{"i", qid}});
            checked(proto::encode(m, proto::header{name, value}), "encode HEADER");
        }
        add_macro(m, 'N', {{"i", qid}});
        checked(proto::encode(m, proto::end_of_headers{}), "encode EOH");
        add_macro(m, 'B', {{"i", qid}});
        checked(proto::encode(m, proto::body{body_1k()}), "encode BODY");
        add_macro(m, 'E', {{"i", qid}, {"{msg_id}", "<4Fq1Zk3mQbz1xyW@example.org>"}});
        checked(proto::encode(m, proto::end_of_body{}), "encode EOB");
        checked(proto::encode(m, proto::abort{}), "encode ABORT");

        s->decoder.feed(setup + m); // one feed only: every view below stays valid
        std::size_t n = 0;
        while (auto c = s->decoder.next()) {
            if (!*c) fail("decode the session transcript", c->error().message());
            (n++ < 5 ? s->setup : s->message).push_back(**c);
        }
        if (s->setup.size() != 5 || s->message.size() != 23 || !s->decoder.at_packet_boundary())
            fail("session transcript", "expected 5 setup and 23 message commands, got " +
                                           std::to_string(s->setup.size()) + " and " + std::to_string(s->message.size()));
        return s;
    }();
    return *t;
}

/// A session after OPTNEG (Postfix's offer, a filter asking for nothing), CONNECT and HELO.
void start_session(proto::filter_session& session, std::string& out) {
    const proto::reply cont = proto::continue_{};
    for (const auto& cmd : transcript().setup) {
        auto ev = session.on_command(cmd, out);
        if (!ev) fail("session setup", ev.error().message());
        if (ev->step == proto::session_step::call_hook) checked(session.answer(cont, out), "session setup answer");
    }
}

/// One message through the session: on_command for each command, CONTINUE wherever a hook
/// runs. Returns the number of answers, or -1 on any error.
[[gnu::always_inline]] inline long run_message(proto::filter_session& session, const std::vector<proto::command>& cmds,
                                               const proto::reply& cont, std::string& out) {
    long answers = 0;
    for (const auto& cmd : cmds) {
        auto ev = session.on_command(cmd, out);
        if (!ev) return -1;
        if (ev->step == proto::session_step::call_hook) {
            if (!session.answer(cont, out)) return -1;
            ++answers;
        }
    }
    return answers;
}

void BM_session_message(benchmark::State& state) {
    const auto& t = transcript();
    proto::filter_session session;
    std::string out;
    start_session(session, out);
    const proto::reply cont = proto::continue_{};
    out.reserve(answers_per_message * continue_bytes);
    for (auto _ : state) {
        out.clear();
        const long answers = run_message(session, t.message, cont, out);
        if (answers != static_cast<long>(answers_per_message) || out.size() != answers_per_message * continue_bytes ||
            session.phase() != proto::session_phase::connected) {
            skip_with_error(state, "the session answered the message wrongly");
            break;
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(t.message_wire.size()));
}

// ---------------------------------------------------------------- checks before running

template <class Decoder, class Message>
void check_fixture(const fixture<Message>& f) {
    // The buffer decodes to `count` copies of the message, nothing left over.
    Decoder decoder;
    decoder.feed(f.wire);
    std::size_t n = 0;
    while (auto r = decoder.next()) {
        if (!*r) fail(f.name + ": decoding the buffer", r->error().message());
        if (!(r->value() == f.message)) fail(f.name + ": decoded " + printed(r->value()), "expected " + printed(f.message));
        ++n;
    }
    if (n != f.count || !decoder.at_packet_boundary())
        fail(f.name, "the buffer decodes to " + std::to_string(n) + " packets, expected " + std::to_string(f.count));
    if (f.wire.size() < min_buffer_bytes) fail(f.name, "buffer shorter than 64 KiB");
    // Encoding the decoded message gives the same bytes, which decode to the same message.
    std::string again;
    checked(proto::encode(again, f.message), f.name + ": re-encoding");
    if (again != f.one) fail(f.name, "re-encoding gives other bytes");
    Decoder d2;
    d2.feed(again);
    auto r = d2.next();
    if (!r || !*r || !(r->value() == f.message) || d2.next()) fail(f.name, "the re-encoded packet decodes differently");
}

void check_session() {
    proto::filter_session session;
    std::string out;
    start_session(session, out);
    // The negotiation: version 6, no actions, no protocol bits (everything sent and answered),
    // then CONTINUE for CONNECT and HELO.
    proto::reply_decoder replies;
    replies.feed(out);
    auto first = replies.next();
    if (!first || !*first || !std::holds_alternative<proto::optneg_reply>(first->value()))
        fail("session", "no OPTNEG reply");
    const auto& neg = std::get<proto::optneg_reply>(first->value());
    if (neg.version != 6 || !neg.actions.empty() || !neg.protocol.empty())
        fail("session", "unexpected negotiation: " + printed(proto::reply{neg}));
    int continues = 0;
    while (auto r = replies.next()) {
        if (!*r || !std::holds_alternative<proto::continue_>(r->value())) fail("session setup", "a reply other than CONTINUE");
        ++continues;
    }
    if (continues != 2) fail("session setup", "expected 2 CONTINUE replies (CONNECT, HELO)");
    if (session.phase() != proto::session_phase::connected) fail("session setup", "not connected");
    // Two messages in a row: 11 answers each, all CONTINUE, back to "connected" after ABORT.
    const proto::reply cont = proto::continue_{};
    for (int m = 0; m < 2; ++m) {
        out.clear();
        const long answers = run_message(session, transcript().message, cont, out);
        if (answers != static_cast<long>(answers_per_message)) fail("session message", "wrong number of answers");
        proto::reply_decoder d;
        d.feed(out);
        std::size_t n = 0;
        while (auto r = d.next()) {
            if (!*r || !std::holds_alternative<proto::continue_>(r->value())) fail("session message", "not a CONTINUE");
            ++n;
        }
        if (n != answers_per_message || out.size() != answers_per_message * continue_bytes)
            fail("session message", "wrong answer bytes");
        if (session.phase() != proto::session_phase::connected) fail("session message", "not back to connected");
    }
}

void check_all() {
    for (const auto& f : command_fixtures()) check_fixture<proto::command_decoder>(*f);
    for (const auto& f : reply_fixtures()) check_fixture<proto::reply_decoder>(*f);
    check_session();
}

void register_all() {
    for (const auto& f : command_fixtures()) {
        const command_fixture* p = f.get();
        benchmark::RegisterBenchmark(("BM_decode_command/" + p->name).c_str(), [p](benchmark::State& s) {
            decode_benchmark<proto::command_decoder>(s, *p);
        });
    }
    for (const auto& f : command_fixtures()) {
        const command_fixture* p = f.get();
        benchmark::RegisterBenchmark(("BM_encode_command/" + p->name).c_str(),
                                     [p](benchmark::State& s) { encode_benchmark(s, *p); });
    }
    for (const auto& f : reply_fixtures()) {
        const reply_fixture* p = f.get();
        benchmark::RegisterBenchmark(("BM_decode_reply/" + p->name).c_str(), [p](benchmark::State& s) {
            decode_benchmark<proto::reply_decoder>(s, *p);
        });
    }
    for (const auto& f : reply_fixtures()) {
        const reply_fixture* p = f.get();
        benchmark::RegisterBenchmark(("BM_encode_reply/" + p->name).c_str(),
                                     [p](benchmark::State& s) { encode_benchmark(s, *p); });
    }
    benchmark::RegisterBenchmark("BM_session_message", BM_session_message);
}

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    check_all();
    std::string sizes;
    for (const auto& f : command_fixtures())
        sizes += (sizes.empty() ? "" : ", ") + f->name + " " + std::to_string(f->one.size());
    benchmark::AddCustomContext("command packet bytes", sizes);
    sizes.clear();
    for (const auto& f : reply_fixtures())
        sizes += (sizes.empty() ? "" : ", ") + f->name + " " + std::to_string(f->one.size());
    benchmark::AddCustomContext("reply packet bytes", sizes);
    benchmark::AddCustomContext("session message", std::to_string(transcript().message.size()) + " commands, " +
                                                       std::to_string(transcript().message_wire.size()) + " bytes");
    register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (benchmark_failed) {
        std::fprintf(stderr, "micro_proto: a benchmark reported an error\n");
        return 1;
    }
    return 0;
}
