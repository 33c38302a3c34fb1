// The MTA side of the protocol without I/O, shared by blocking_client and async_client.
#include <cppmilter/client/detail/client_core.hpp>

#include <cppmilter/proto/encoder.hpp>

#include <sstream>
#include <variant>

namespace cppmilter::client::detail {
namespace {

template <class T>
std::string one_line(const T& x) {
    std::ostringstream os;
    os << x;
    return os.str();
}

std::string name_of(proto::command_kind k) { return std::string{proto::to_string(k)}; }

/// The wire bytes of one packet (length prefix, letter, payload).
void append_packet(std::string& out, const proto::packet& p) {
    const auto len = static_cast<std::uint32_t>(p.payload.size() + 1);
    out.push_back(static_cast<char>((len >> 24) & 0xff));
    out.push_back(static_cast<char>((len >> 16) & 0xff));
    out.push_back(static_cast<char>((len >> 8) & 0xff));
    out.push_back(static_cast<char>(len & 0xff));
    out.push_back(p.letter);
    out.append(p.payload);
}

} // namespace

client_core::client_core(client_options options) : client_options_{options}, reader_{options.max_payload} {}

void client_core::reset() {
    reader_ = proto::packet_reader{client_options_.max_payload};
    negotiation_ = {};
    options_ = {};
    macros_sent_ = false;
}

std::chrono::milliseconds client_core::timeout_for(proto::command_kind k) const noexcept {
    switch (k) {
    case proto::command_kind::header:
    case proto::command_kind::end_of_headers:
    case proto::command_kind::body:
    case proto::command_kind::end_of_body: return client_options_.content_timeout;
    default: return client_options_.command_timeout;
    }
}

void client_core::append_command(std::string& out, const proto::command& c) {
    if (auto ok = proto::encode(out, c); !ok) throw client_error{"cannot encode: " + ok.error().message()};
    log([&] { return "> " + one_line(c); });
    macros_sent_ = false;
}

void client_core::append_optneg(std::string& out) { append_command(out, client_options_.offer); }

void client_core::append_macros(std::string& out, char stage, const macro_list& pairs) {
    std::vector<std::pair<std::string_view, std::string_view>> views(pairs.begin(), pairs.end());
    const auto start = out.size();
    if (auto ok = proto::encode_macro(out, stage, views); !ok) throw client_error{"cannot encode: " + ok.error().message()};
    if (trace) {
        proto::command_decoder d;
        d.feed(std::string_view{out}.substr(start));
        if (auto c = d.next(); c && *c) log([&] { return "> " + one_line(**c); });
    }
    macros_sent_ = true;
}

bool client_core::append_event(std::string& out, const proto::command& c) {
    const auto k = proto::kind_of(c);
    if (!options_.sends(k)) {
        log([&] { return "- " + name_of(k) + " (not sent)"; });
        return false;
    }
    if (client_options_.postfix_macros && !macros_sent_) {
        (void)proto::encode_macro(out, static_cast<char>(k), {});
        log([&] { return "> MACRO stage=\"" + std::string(1, static_cast<char>(k)) + "\""; });
    }
    append_command(out, c);
    return true;
}

std::optional<proto::packet> client_core::buffered_packet() {
    auto p = reader_.next();
    if (!p) return std::nullopt;
    if (!*p) throw client_error{"the milter broke the framing: " + p->error().message()};
    return **p;
}

const negotiation& client_core::accept_optneg(const proto::packet& p) {
    const auto& offer = client_options_.offer;
    if (p.letter != 'O') {
        auto r = proto::parse_reply(p);
        throw client_error{"OPTNEG answered with " + (r ? one_line(*r) : "letter '" + std::string(1, p.letter) + "'") +
                           " instead of an OPTNEG reply"};
    }
    if (p.payload.size() < 12)
        throw client_error{"OPTNEG reply too short: " + std::to_string(p.payload.size()) + " bytes, at least 12 needed"};
    auto r = proto::parse_reply(p);
    if (!r) throw client_error{"malformed OPTNEG reply: " + r.error().message()};
    const auto& o = std::get<proto::optneg_reply>(*r);
    log([&] { return "< " + one_line(*r); });
    if (o.version < proto::min_protocol_version || o.version > offer.version)
        throw client_error{"OPTNEG reply: version " + std::to_string(o.version) + " not within 2.." +
                           std::to_string(offer.version)};
    if (const auto extra = o.actions - offer.actions; !extra.empty())
        throw client_error{"OPTNEG reply: actions not offered: " + proto::to_string(extra)};
    if (const auto extra = o.protocol - offer.protocol - proto::internal_protocol; !extra.empty())
        throw client_error{"OPTNEG reply: protocol bits not offered: " + proto::to_string(extra)};
    negotiation n;
    n.version = o.version;
    n.actions = o.actions;
    n.protocol = o.protocol - proto::internal_protocol;
    for (std::size_t i = 0; i < o.macros.size(); ++i)
        if (o.macros[i]) n.macros[i] = std::string{*o.macros[i]};
    negotiation_ = std::move(n);
    options_ = negotiation_.options();
    return negotiation_;
}

client_core::reply_step client_core::accept_reply(proto::command_kind k, const proto::packet& p,
                                                  std::string& collected) {
    auto r = proto::parse_reply(p);
    if (!r) throw client_error{"malformed reply to " + name_of(k) + ": " + r.error().message()};
    const auto rk = proto::kind_of(*r);
    log([&] { return "< " + one_line(*r); });
    const auto what = [&] { return std::string{proto::to_string(rk)} + " in answer to " + name_of(k); };
    if (rk == proto::reply_kind::progress) {
        ++progress_;
        return reply_step::progress;
    }
    if (rk == proto::reply_kind::optneg) throw client_error{"protocol violation: " + what()};
    if (proto::is_modification(rk)) {
        if (k != proto::command_kind::end_of_body)
            throw client_error{"protocol violation: " + what() + " (modifications only at end of message)"};
        if (const auto missing = proto::required_action(rk) - options_.actions; !missing.empty())
            throw client_error{"protocol violation: " + what() + " needs action " + proto::to_string(missing) +
                               ", which was not negotiated"};
    }
    if (rk == proto::reply_kind::skip) {
        if (k != proto::command_kind::body) throw client_error{"protocol violation: " + what() + " (SKIP only after BODY)"};
        if (!options_.protocol.has(proto::protocol::skip))
            throw client_error{"protocol violation: " + what() + " (SKIP not negotiated)"};
    }
    append_packet(collected, p);
    return proto::is_verdict(rk) ? reply_step::verdict : reply_step::partial;
}

} // namespace cppmilter::client::detail
