// Fuzz target, MTA → filter: arbitrary bytes through command_decoder and filter_session, the
// way a filter built on cppmilter receives them. Besides "no crash, no UB, no leak", it checks:
//  - every decoded command encodes again and decodes back to an equal command, and
//    encode_mail / encode_rcpt / encode_macro write the same bytes as encode();
//  - whatever the session writes decodes as valid replies, and a refused command or answer
//    writes nothing;
//  - the stream decodes to the same commands and errors whole and in two splits;
//  - a framing error repeats; macros just stored can be looked up, and the MACRO packet sent
//    right before a command is still there when that command's hook runs.
//
// Input layout (missing bytes read as 0, so a short input means "all defaults"):
//   [0]  split selector (fuzz_common.hpp)
//   [1]  requested actions, bits 0-7
//   [2]  requested protocol bits 0-7
//   [3]  requested protocol bits 8-15
//   [4]  bits 0-4: protocol bits 16-20; bit 5: MDS_256K; bit 6: MDS_1M; bit 7: action SETSYMLIST
//   [5]  bits 0-6: request a macro list for that stage (§5.2); bit 7: max payload 64 KiB
//   [6]  N, the length of the answer script
//   ...  the MTA's byte stream
//   last N bytes: the answer script, one byte per answer attempt (see reply_from())
#include "fuzz_common.hpp"

#include <cppmilter/proto.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace proto = cppmilter::proto;
using cppmilter::fuzz::require;
using namespace std::literals;

namespace {

// ---------------------------------------------------------------- what the filter asks for

constexpr std::string_view macro_lists[proto::macro_stage_count] = {
    "{client_addr} {client_name} j", "{tls_version}", "{mail_addr} i", "{rcpt_addr} {rcpt_mailer}",
    "i", "{msg_id} i", ""};

struct settings {
    proto::negotiation_request request;
    std::size_t max_payload = proto::default_max_payload;
};

settings settings_from(cppmilter::fuzz::input& in) {
    settings s;
    const std::uint32_t actions = in.byte();
    const std::uint32_t p0 = in.byte(), p1 = in.byte(), p2 = in.byte();
    const std::uint8_t lists = in.byte();
    s.request.actions = proto::action_set::from_bits(actions | ((p2 & 0x80u) ? 0x100u : 0u));
    s.request.protocol = proto::protocol_set::from_bits(p0 | (p1 << 8) | ((p2 & 0x1fu) << 16) |
                                                        ((p2 & 0x20u) ? 0x10000000u : 0u) |
                                                        ((p2 & 0x40u) ? 0x20000000u : 0u));
    for (std::size_t stage = 0; stage < proto::macro_stage_count; ++stage)
        if (lists & (1u << stage)) s.request.macros[stage] = macro_lists[stage];
    if (lists & 0x80u) s.max_payload = proto::max_payload_64k;
    return s;
}

// ---------------------------------------------------------------- the filter's answers

// Field values, indexed by the script byte's parameter: usable ones first, then ones the
// encoder must refuse (empty, embedded NUL) or §4.6 forbids.
constexpr std::string_view header_names[8] = {
    "X-Fuzz", "Subject", "X-A-Rather-Long-Header-Name", "x", "", "X-\0Nul"sv, "X-8bit-\xc3\xa9", "From"};
constexpr std::string_view header_values[8] = {
    "yes", "", " leading space", "first\n\tsecond", "50% sure", "nul\0inside"sv, "\xc3\xa9t\xc3\xa9", "<a@b>"};
constexpr std::string_view addresses[8] = {
    "<rcpt@example.org>", "<>", "rcpt@example.org", "<a@b>", "", "<nul\0@example.org>"sv, "<\xc3\xa9@b>", "x"};
constexpr std::string_view esmtp_args[8] = {
    "", "NOTIFY=NEVER", "SIZE=1 BODY=8BITMIME", "", "ORCPT=rfc822;a@b", "A=\0B"sv, "", " "};
constexpr std::string_view smtp_texts[8] = {
    "550 5.7.1 rejected",
    "421 4.3.2 going away",
    "450-4.2.0 first\r\n450 4.2.0 second",
    "250 2.0.0 ok",              // not 4xx/5xx
    "550 100% sure",             // lone '%'
    "550 5.7.1 50%% sure",
    "451 4.7.1 a\nb",            // bare LF
    "554-5.7.1 a\r\n550 5.7.1 b" // codes differ
};
constexpr std::string_view reasons[8] = {"spam", "held for review", "x", "", "nul\0"sv, "\xc3\xa9", "%", "q"};
constexpr std::uint32_t indexes[8] = {0, 1, 2, 3, 100, 0xffffffffu, 1, 0};

std::string_view body_chunk(unsigned p) {
    // Longer than one REPLBODY packet, so the encoder must split it.
    static const std::string big(70000, 'b');
    constexpr std::string_view small[8] = {"", "new body\r\n", "\0binary\r\n"sv, "line\r\n.\r\n", "x", "\r", "\xff", ""};
    return p == 7 ? std::string_view{big} : small[p];
}

constexpr std::uint8_t leave_unanswered = 19;

/// The reply a script byte stands for: bits 0-4 the kind, bits 5-7 which field values.
proto::reply reply_from(std::uint8_t code) {
    const unsigned p = code >> 5;
    switch (code & 0x1fu) {
    case 1: return proto::accept{};
    case 2: return proto::reject{};
    case 3: return proto::tempfail{};
    case 4: return proto::discard{};
    case 5: return proto::skip{};
    case 6: return proto::shutdown{};
    case 7: return proto::progress{};
    case 8: return proto::smtp_reply{smtp_texts[p]};
    case 9: return proto::add_header{header_names[p], header_values[p]};
    case 10: return proto::insert_header{indexes[p], header_names[(p + 1) % 8], header_values[p]};
    case 11: return proto::change_header{indexes[p], header_names[p], header_values[(p + 3) % 8]};
    case 12: return proto::change_from{addresses[p], esmtp_args[p]};
    case 13: return proto::add_rcpt{addresses[p]};
    case 14: return proto::add_rcpt_with_args{addresses[p], esmtp_args[(p + 1) % 8]};
    case 15: return proto::del_rcpt{addresses[p]};
    case 16: return proto::replace_body{body_chunk(p)};
    case 17: return proto::quarantine{reasons[p]};
    case 18: return proto::optneg_reply{}; // the session answers OPTNEG itself: must be refused
    default: return proto::continue_{};
    }
}

// ---------------------------------------------------------------- checks

/// The MTA-side helpers that take separate strings must write the same bytes as encode().
void check_helpers(const proto::command& cmd, std::string_view wire) {
    std::string alt;
    auto envelope = [&](auto encode_one, std::string_view address, const proto::string_list& args) {
        const std::vector<std::string_view> list(args.begin(), args.end());
        require(encode_one(alt, address, list).has_value() && alt == wire, "encode_mail/encode_rcpt differ from encode()");
    };
    if (const auto* m = std::get_if<proto::mail>(&cmd)) {
        envelope([](auto&... a) { return proto::encode_mail(a...); }, m->address, m->esmtp_args);
    } else if (const auto* r = std::get_if<proto::rcpt>(&cmd)) {
        envelope([](auto&... a) { return proto::encode_rcpt(a...); }, r->address, r->esmtp_args);
    } else if (const auto* d = std::get_if<proto::macro>(&cmd)) {
        const std::vector<std::pair<std::string_view, std::string_view>> pairs(d->pairs.begin(), d->pairs.end());
        require(proto::encode_macro(alt, d->stage, pairs).has_value() && alt == wire, "encode_macro differs from encode()");
    }
}

/// A decoded command must survive encode → decode unchanged (BODY may come back split), and
/// the MTA-side helpers must write the same bytes.
void check_roundtrip(const proto::command& cmd) {
    check_helpers(cmd, cppmilter::fuzz::check_roundtrip<proto::command_decoder, proto::body>(cmd));
}

/// Everything the session writes goes to the MTA: it must decode as valid replies.
void check_output(std::string_view out, std::ostream& log) {
    proto::reply_decoder mta;
    mta.feed(out);
    while (auto r = mta.next()) {
        require(r->has_value(), "the session wrote a reply that does not decode");
        log << "  < " << r->value() << '\n';
    }
    require(mta.at_packet_boundary(), "the session wrote a partial packet");
}

constexpr std::string_view lookups[] = {"j", "{j}", "i", "{i}", "_", "{daemon_name}", "daemon_name",
                                        "{rcpt_addr}", "{mail_addr}", "{client_addr}", "", "{", "{}", "}"};

void exercise_macros(const proto::macro_table& macros, std::ostream& log) {
    for (auto name : lookups)
        if (auto v = macros.find(name)) log << "  " << name << '=' << v->size() << '\n';
    for (char letter : "CHMRTLNBEUDX"sv)
        for (auto [name, value] : macros.stage(letter)) log << "  " << letter << ':' << name << value.size() << '\n';
}

// ---------------------------------------------------------------- one connection

class filter {
public:
    filter(const proto::negotiation_request& request, std::string_view script)
        : request_{request}, session_{request}, script_{script} {}

    void on_command(const proto::command& cmd) {
        log_ << "> " << cmd << '\n';
        check_roundtrip(cmd);

        const char macro_stage = std::exchange(macro_stage_, 0);
        out_.clear();
        const auto event = session_.on_command(cmd, out_);
        if (!event) {
            log_ << "  refused: " << event.error() << '\n';
            require(out_.empty(), "a refused command made the session write");
            return;
        }
        log_ << "  " << to_string(event->step) << (event->aborted_message ? " (aborted)" : "") << ' '
             << to_string(session_.phase()) << '\n';

        const auto* m = std::get_if<proto::macro>(&cmd);
        if (m && "CHMRTLNBEU"sv.find(m->stage) != std::string_view::npos) {
            require(session_.macros().stage(m->stage).raw() == m->pairs.raw(), "stored macros differ from the packet");
            for (auto [name, value] : m->pairs)
                require(session_.macros().find(name).has_value(), "a macro just stored is not found");
            macro_stage_ = m->stage;
            macro_raw_.assign(m->pairs.raw()); // the packet's bytes die with the next feed()
        } else if (event->step == proto::session_step::call_hook && macro_stage == static_cast<char>(proto::kind_of(cmd))) {
            // The MACRO packet right before a command is meant for that command's hook (§3.2).
            require(session_.macros().stage(macro_stage).raw() == macro_raw_,
                    "the macros sent for a command are gone when its hook runs");
        }

        switch (event->step) {
        case proto::session_step::call_hook:
            require(session_.awaiting_answer() == proto::kind_of(cmd), "call_hook without an answer owed");
            require(event->expects_answer == session_.options().expects_answer(proto::kind_of(cmd)),
                    "expects_answer disagrees with the negotiated options");
            answer();
            break;
        case proto::session_step::close:
            check_output(out_, log_);
            exercise_macros(session_.macros(), log_);
            // The MTA would connect again: fuzz the rest of the stream as a new connection.
            session_ = proto::filter_session{request_};
            return;
        default:
            break;
        }
        check_output(out_, log_);
        exercise_macros(session_.macros(), log_);
    }

    void on_error(const proto::error& e) { log_ << "  bad packet: " << e << '\n'; }

    void on_disconnect() {
        log_ << "EOF" << (session_.on_disconnect() ? " (aborted)" : "") << '\n';
    }

private:
    /// Answers as a filter's hook would: modifications and progress first (only the end of
    /// body takes them), then a verdict. A refused answer is followed by the next script byte;
    /// when the script runs out, CONTINUE.
    void answer() {
        for (int attempt = 0; attempt < 16 && !script_.empty(); ++attempt) {
            const auto code = static_cast<std::uint8_t>(script_.front());
            script_.remove_prefix(1);
            if ((code & 0x1fu) == leave_unanswered) return; // the next command must cope with it
            const proto::reply r = reply_from(code);
            const std::size_t before = out_.size();
            if (const auto ok = session_.answer(r, out_); !ok) {
                log_ << "  answer " << proto::kind_of(r) << " refused: " << ok.error() << " / "
                     << proto::make_error_code(ok.error().code).message() << '\n';
                require(out_.size() == before, "a refused answer appended bytes");
                continue;
            }
            if (proto::is_verdict(proto::kind_of(r))) {
                require(!session_.awaiting_answer(), "a verdict left the answer pending");
                return;
            }
        }
        if (session_.awaiting_answer())
            require(session_.answer(proto::continue_{}, out_).has_value(), "CONTINUE refused where an answer is owed");
    }

    proto::negotiation_request request_;
    proto::filter_session session_;
    std::string_view script_;
    std::string out_;
    cppmilter::fuzz::log_sink sink_;
    std::ostream& log_ = sink_.stream();
    char macro_stage_ = 0; // letter of the MACRO packet just received, 0 if none
    std::string macro_raw_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    cppmilter::fuzz::input in{data, size};
    const std::uint8_t split = in.byte();
    const settings s = settings_from(in);
    const std::string_view script = in.take_back(in.byte());
    const std::string_view stream = in.rest();

    filter f{s.request, script};
    proto::command_decoder decoder{s.max_payload};
    cppmilter::fuzz::feed_split(decoder, stream, split, [&] {
        while (auto next = decoder.next()) {
            if (*next) {
                f.on_command(**next);
                continue;
            }
            const proto::error e = next->error();
            f.on_error(e);
            if (e.code != proto::errc::zero_length && e.code != proto::errc::packet_too_large)
                continue; // a malformed packet is consumed; the framing holds
            const auto again = decoder.next();
            require(again && !*again && again->error() == e, "a framing error does not repeat");
            return false; // the stream cannot be read any further
        }
        return true;
    });
    f.on_disconnect();
    cppmilter::fuzz::check_split_matches_whole<proto::command_decoder>(stream, s.max_payload, split);
    return 0;
}
