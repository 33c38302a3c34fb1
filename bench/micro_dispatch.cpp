// Micro-benchmark: the DSL's dispatch (cm::connection over a milter) against the same filter
// written by hand as a switch over the protocol core (proto::filter_session), both fed the
// same in-memory transcript of a Postfix-like session. See bench/README.md.
#include "sender_block.hpp"
#include "support.hpp"

#include <cppmilter/cppmilter.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace cm = cppmilter;
namespace proto = cppmilter::proto;

namespace {

/// Messages per transcript (one SMTP connection).
constexpr int messages_per_session = 100;

using bench::add_macro;
using bench::checked;
using bench::fail;
using bench::pairs;

// ---------------------------------------------------------------- the transcript

/// What Postfix sends for one SMTP connection (see tests/data/captures/): OPTNEG offering
/// everything, CONNECT, HELO, `messages` messages each ended by ABORT, then QUIT. Every
/// command is preceded by its MACRO packet, as Postfix does.
std::string make_transcript(int messages) {
    std::string t;
    checked(proto::encode(t, proto::optneg{6, proto::all_actions, proto::all_protocol}), "encode OPTNEG");
    add_macro(t, 'C', {{"j", "mx.bench.example"},
                       {"{daemon_name}", "mx.bench.example"},
                       {"{client_addr}", "192.0.2.10"},
                       {"{client_name}", "client.bench.example"},
                       {"_", "client.bench.example [192.0.2.10]"}});
    checked(proto::encode(t, proto::connect{"client.bench.example", proto::address_family::inet, 54321, "192.0.2.10"}),
            "encode CONNECT");
    add_macro(t, 'H', {{"{tls_version}", "TLSv1.3"}, {"{cipher}", "TLS_AES_256_GCM_SHA384"}});
    checked(proto::encode(t, proto::helo{"client.bench.example"}), "encode HELO");

    std::string body;
    for (int line = 0; body.size() < 1024; ++line)
        body += "Line " + std::to_string(line) + " of a plain text body, long enough to look real.\r\n";
    body.resize(1024); // exactly 1 KiB
    body.replace(1022, 2, "\r\n");

    for (int m = 0; m < messages; ++m) {
        char qid[16], sender_buffer[48], message_id_buffer[48];
        std::snprintf(qid, sizeof qid, "4F1A%06X", m);
        std::snprintf(sender_buffer, sizeof sender_buffer, "<sender%d@example.org>", m);
        std::snprintf(message_id_buffer, sizeof message_id_buffer, "<%s@example.org>", qid);
        const std::string_view sender = sender_buffer;
        add_macro(t, 'M', {{"i", qid}, {"{mail_addr}", sender.substr(1, sender.size() - 2)},
                       {"{mail_mailer}", "smtp"}, {"{auth_authen}", "user"}});
        const std::array<std::string_view, 2> mail_args{"SIZE=2048", "BODY=8BITMIME"};
        checked(proto::encode_mail(t, sender, mail_args), "encode MAIL");
        for (const char* rcpt : {"<alice@rcpt.example>", "<bob@rcpt.example>"}) {
            const std::string_view r{rcpt};
            add_macro(t, 'R', {{"{rcpt_addr}", r.substr(1, r.size() - 2)}, {"{rcpt_mailer}", "local"}, {"{rcpt_host}", ""}});
            const std::array<std::string_view, 1> rcpt_args{"NOTIFY=NEVER"};
            checked(proto::encode_rcpt(t, r, rcpt_args), "encode RCPT");
        }
        add_macro(t, 'T', {{"i", qid}});
        checked(proto::encode(t, proto::data{}), "encode DATA");
        const std::string_view message_id = message_id_buffer; // no HDR_LEADSPC: no leading space
        const std::pair<std::string_view, std::string_view> headers[] = {
            {"From", "Sender <sender@example.org>"},
            {"To", "Alice <alice@rcpt.example>, Bob <bob@rcpt.example>"},
            {"Subject", "Quarterly report"},
            {"Date", "Tue, 24 Nov 2026 10:00:00 +0000"},
            {"Message-ID", message_id},
        };
        for (const auto& [name, value] : headers) {
            add_macro(t, 'L', {{"i", qid}});
            checked(proto::encode(t, proto::header{name, value}), "encode HEADER");
        }
        add_macro(t, 'N', {{"i", qid}});
        checked(proto::encode(t, proto::end_of_headers{}), "encode EOH");
        add_macro(t, 'B', {{"i", qid}});
        checked(proto::encode(t, proto::body{body}), "encode BODY");
        add_macro(t, 'E', {{"i", qid}, {"{msg_id}", message_id}});
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

// ---------------------------------------------------------------- the filter's behaviour

/// The sender test both filters share: the sender_block example's with blocked.example on
/// its list ("<x@Blocked.Example>" is blocked; never in the transcript).
bool is_blocked(std::string_view address) {
    static const examples::block_list list = [] {
        examples::block_list l{.domains = {"blocked.example"}};
        l.check();
        return l;
    }();
    return list.blocks(address);
}

// ---------------------------------------------------------------- 1. the DSL

struct per_message {
    int recipients = 0;
};

/// Blocks some senders, counts recipients, tags messages that have a Subject and recipients.
inline constexpr auto dsl_milter = cm::milter<cm::message_scoped<per_message>>(
    cm::on_mail_from([](const cm::mail_from& m) -> cm::verdict {
        if (is_blocked(m.address)) return cm::reject;
        return cm::next;
    }),
    cm::on_rcpt([](const cm::rcpt&, auto& ctx) { ++ctx.message().recipients; }),
    cm::on_end_of_message([](const cm::message_headers& msg, auto& ctx) -> cm::eom<cm::add_header> {
        if (msg.header("Subject") && ctx.message().recipients > 0) return cm::add_header{"X-Bench", "1"};
        return cm::next;
    }));

using dsl_pipeline = std::remove_cvref_t<decltype(dsl_milter)>;
using dsl_connection = cm::connection<dsl_pipeline>;

/// One connection of the DSL milter over the whole transcript. noinline: callgrind measures it.
[[gnu::noinline]] std::size_t run_dsl(proto::command_decoder& decoder, std::string_view bytes, std::string& out) {
    return bench::run_connection<dsl_milter>(decoder, bytes, out);
}

// ---------------------------------------------------------------- 2. the same, by hand

/// The negotiation the DSL derives for dsl_milter: ADDHDRS; NO_* for the stages without a
/// hook and not buffered (CONNECT, HELO, DATA, EOH, BODY, UNKNOWN), NR_* for every stage
/// but MAIL (its hook may reject).
constexpr proto::negotiation_request switch_request = dsl_pipeline::negotiation.request();
static_assert(switch_request.actions == proto::action_set{proto::action::add_headers});
static_assert(!switch_request.protocol.has(proto::protocol::no_reply_mail));
static_assert(switch_request.protocol.has(proto::protocol::no_reply_rcpt));
static_assert(switch_request.protocol.has(proto::protocol::no_reply_header));
static_assert(!switch_request.protocol.has(proto::protocol::no_headers));

template <class T, class Variant>
struct alternative_index;
template <class T, class... Ts>
struct alternative_index<T, std::variant<Ts...>> {
    static constexpr std::size_t value = [] {
        constexpr bool same[] = {std::is_same_v<T, Ts>...};
        return static_cast<std::size_t>(std::find(std::begin(same), std::end(same), true) - std::begin(same));
    }();
};
template <class T>
constexpr std::size_t index_of = alternative_index<T, proto::command>::value;

/// Case-insensitive ASCII comparison, as message_headers::header() does it.
bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

/// The filter of dsl_milter written directly on proto::filter_session.
class switch_filter {
public:
    switch_filter() : session_{switch_request} {}

    proto::result<proto::session_step> handle(const proto::command& cmd, std::string& out) {
        auto ev = session_.on_command(cmd, out);
        if (!ev) return ev.error();
        if (ev->aborted_message) reset_message();
        switch (ev->step) {
        case proto::session_step::none: break;
        case proto::session_step::abort_message:
        case proto::session_step::close:
        case proto::session_step::new_connection: reset_message(); break;
        case proto::session_step::call_hook:
            if (auto ok = on_event(cmd, out); !ok) return ok.error();
            break;
        }
        return ev->step;
    }

private:
    proto::result<void> on_event(const proto::command& cmd, std::string& out) {
        switch (cmd.index()) {
        case index_of<proto::mail>:
            reset_message();
            if (is_blocked(std::get_if<proto::mail>(&cmd)->address)) return session_.answer(proto::reject{}, out);
            return session_.answer(proto::continue_{}, out);
        case index_of<proto::rcpt>:
            ++recipients_;
            return session_.answer(proto::continue_{}, out);
        case index_of<proto::header>: {
            const auto& h = *std::get_if<proto::header>(&cmd);
            if (header_count_ == headers_.size()) headers_.emplace_back();
            auto& slot = headers_[header_count_++]; // capacity reused across messages
            slot.first.assign(h.name);
            slot.second.assign(h.value);
            return session_.answer(proto::continue_{}, out);
        }
        case index_of<proto::end_of_body>: {
            bool subject = false;
            for (std::size_t i = 0; i < header_count_ && !subject; ++i) subject = iequals(headers_[i].first, "Subject");
            proto::result<void> ok;
            if (subject && recipients_ > 0) ok = session_.answer(proto::add_header{"X-Bench", "1"}, out);
            if (ok) ok = session_.answer(proto::continue_{}, out);
            reset_message();
            return ok;
        }
        case index_of<proto::connect>:
        case index_of<proto::helo>:
        case index_of<proto::data>:
        case index_of<proto::end_of_headers>:
        case index_of<proto::body>:
        case index_of<proto::unknown>: return session_.answer(proto::continue_{}, out);
        default: return {}; // OPTNEG, MACRO, ABORT, QUIT, QUIT_NC: never call_hook
        }
    }

    void reset_message() noexcept {
        recipients_ = 0;
        header_count_ = 0;
    }

    proto::filter_session session_;
    std::vector<std::pair<std::string, std::string>> headers_;
    std::size_t header_count_ = 0;
    int recipients_ = 0;
};

/// One connection of the hand-written filter over the whole transcript.
[[gnu::noinline]] std::size_t run_switch(proto::command_decoder& decoder, std::string_view bytes, std::string& out) {
    switch_filter filter;
    decoder.feed(bytes);
    std::size_t commands = 0;
    while (auto cmd = decoder.next()) {
        if (!*cmd) fail("decode", cmd->error().message());
        if (auto step = filter.handle(**cmd, out); !step) fail("switch filter", step.error().message());
        ++commands;
    }
    return commands;
}

// ---------------------------------------------------------------- the benchmarks

template <bench::session_runner Run>
void run_benchmark(benchmark::State& state) {
    bench::run_benchmark<Run>(state, transcript(), messages_per_session);
}

void BM_dsl(benchmark::State& state) { run_benchmark<run_dsl>(state); }
void BM_switch(benchmark::State& state) { run_benchmark<run_switch>(state); }
BENCHMARK(BM_dsl);
BENCHMARK(BM_switch);

/// Both filters must answer the transcript with the same bytes, and those bytes must be what
/// the filter is meant to say: the OPTNEG reply, `c` for each MAIL, `h` + `c` for each EOB.
void check_same_output() {
    proto::command_decoder decoder;
    std::string dsl, hand;
    run_dsl(decoder, transcript(), dsl);
    run_switch(decoder, transcript(), hand);
    bench::expect_same_answers("the DSL and the switch answer differently (DSL, switch)", dsl, hand);
    proto::reply_decoder replies;
    replies.feed(dsl);
    int optneg = 0, continues = 0, headers = 0, other = 0;
    while (auto r = replies.next()) {
        if (!*r) fail("decode own output", r->error().message());
        switch (proto::kind_of(**r)) {
        case proto::reply_kind::optneg: ++optneg; break;
        case proto::reply_kind::continue_: ++continues; break;
        case proto::reply_kind::add_header: ++headers; break;
        default: ++other;
        }
    }
    if (optneg != 1 || continues != 2 * messages_per_session || headers != messages_per_session || other != 0)
        fail("unexpected answers", "OPTNEG " + std::to_string(optneg) + ", continue " + std::to_string(continues) +
                                       ", ADDHEADER " + std::to_string(headers) + ", other " + std::to_string(other));
}

} // namespace

int main(int argc, char** argv) {
    // --run=dsl|switch N: run one filter N times over the transcript and exit, without the
    // benchmark library (for callgrind: the instruction count per run is deterministic).
    if (argc == 4 && std::strcmp(argv[1], "--run") == 0) {
        const std::string_view which = argv[2];
        const int n = std::atoi(argv[3]);
        auto* run = which == "dsl" ? &run_dsl : which == "switch" ? &run_switch : nullptr;
        if (!run || n < 0) fail("usage", "--run dsl|switch N");
        return bench::run_repeatedly(which, run, n, transcript(), messages_per_session);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    check_same_output();
    benchmark::AddCustomContext("transcript", std::to_string(transcript().size()) + " bytes, " +
                                                  std::to_string(messages_per_session) + " messages");
    benchmark::AddCustomContext("negotiated protocol", proto::to_string(switch_request.protocol));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
