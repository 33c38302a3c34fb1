#include <cppmilter/proto/encoder.hpp>
#include <cppmilter/proto/session.hpp>

#include <algorithm>

namespace cppmilter::proto {

// ---------------------------------------------------------------- negotiation (§5)

bool negotiated_options::expects_answer(command_kind c) const noexcept {
    switch (c) {
    case command_kind::connect: return !protocol.has(protocol::no_reply_connect);
    case command_kind::helo: return !protocol.has(protocol::no_reply_helo);
    case command_kind::mail: return !protocol.has(protocol::no_reply_mail);
    case command_kind::rcpt: return !protocol.has(protocol::no_reply_rcpt);
    case command_kind::data: return !protocol.has(protocol::no_reply_data);
    case command_kind::unknown: return !protocol.has(protocol::no_reply_unknown);
    case command_kind::header: return !protocol.has(protocol::no_reply_header);
    case command_kind::end_of_headers: return !protocol.has(protocol::no_reply_end_of_headers);
    case command_kind::body: return !protocol.has(protocol::no_reply_body);
    case command_kind::end_of_body:
    case command_kind::optneg: return true;
    default: return false; // MACRO, ABORT, QUIT, QUIT_NC are never answered
    }
}

bool negotiated_options::sends(command_kind c) const noexcept {
    switch (c) {
    case command_kind::connect: return !protocol.has(protocol::no_connect);
    case command_kind::helo: return !protocol.has(protocol::no_helo);
    case command_kind::mail: return !protocol.has(protocol::no_mail);
    case command_kind::rcpt: return !protocol.has(protocol::no_rcpt);
    case command_kind::header: return !protocol.has(protocol::no_headers);
    case command_kind::end_of_headers: return !protocol.has(protocol::no_end_of_headers);
    case command_kind::body: return !protocol.has(protocol::no_body);
    case command_kind::unknown: return version >= 3 && !protocol.has(protocol::no_unknown); // §5.4
    case command_kind::data: return version >= 4 && !protocol.has(protocol::no_data);
    default: return true;
    }
}

result<optneg_reply> negotiate(const optneg& offer, const negotiation_request& request) {
    if (offer.version < min_protocol_version) return error{errc::unsupported_version, 'O', "version"};
    // Legacy MTAs send 0 for "the v1 set" (§5.1).
    const action_set offered_actions = offer.actions.empty() ? v1_actions : offer.actions;
    const protocol_set offered_protocol = offer.protocol.empty() ? v1_protocol : offer.protocol;

    const action_set wanted = request.actions - action::set_symbol_list; // the lists decide that bit
    if (const auto missing = wanted - offered_actions; !missing.empty())
        return error{errc::actions_not_offered, 'O', "actions", missing};

    optneg_reply reply;
    reply.version = std::min(offer.version, protocol_version);
    reply.actions = wanted;
    reply.protocol = (request.protocol & offered_protocol) - internal_protocol;
    const bool has_lists = std::any_of(request.macros.begin(), request.macros.end(),
                                       [](const auto& list) { return list.has_value(); });
    // SETSYMLIST is optional: asked for explicitly or implied by lists, granted if offered. An
    // MTA that does not offer it may not expect bytes after the fixed 12, so no lists then.
    if ((has_lists || request.actions.has(action::set_symbol_list)) &&
        offered_actions.has(action::set_symbol_list)) {
        reply.actions |= action::set_symbol_list;
        reply.macros = request.macros;
    }
    return reply;
}

// ---------------------------------------------------------------- macros (§3.2)

namespace {

constexpr std::string_view slot_letters = "CHMRTLNBEU"; // stage order; U stands apart
constexpr std::size_t unknown_slot = 9;
constexpr std::size_t mail_slot = 2;

std::string_view bare_name(std::string_view name) noexcept {
    if (name.size() >= 2 && name.front() == '{' && name.back() == '}') return name.substr(1, name.size() - 2);
    return name;
}

} // namespace

// One string holds every stage's pairs: U's first (it stands apart), then C H M ... E in stage
// order, so that forgetting the stages after one is a resize. ends_[i] is where part i ends.
std::string_view macro_table::part(std::size_t i) const noexcept {
    const std::size_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view{data_}.substr(begin, ends_[i] - begin);
}

template <class Append>
void macro_table::store_slot(std::size_t slot, std::size_t size, Append append) {
    if (slot == unknown_slot) {
        std::string pairs;
        pairs.reserve(size);
        append(pairs);
        const auto old_size = static_cast<std::ptrdiff_t>(ends_[0]);
        data_.replace(0, ends_[0], pairs);
        const auto shift = static_cast<std::ptrdiff_t>(pairs.size()) - old_size;
        for (auto& end : ends_) end = static_cast<std::uint32_t>(static_cast<std::ptrdiff_t>(end) + shift);
        return;
    }
    // Values of later stages belong to an earlier transaction or step now (libmilter does the
    // same); a new CONNECT also forgets U's.
    const std::size_t i = slot + 1;
    const std::size_t keep = slot == 0 ? 0 : ends_[i - 1];
    if (keep + size > data_.capacity()) {
        // Grown to fit exactly, not doubled: an idle connection keeps this string.
        std::string bigger;
        bigger.reserve(keep + size);
        bigger.append(data_, 0, keep);
        data_.swap(bigger);
    }
    if (slot == 0) ends_[0] = 0;
    data_.resize(keep);
    append(data_);
    for (std::size_t later = i; later < ends_.size(); ++later) ends_[later] = static_cast<std::uint32_t>(data_.size());
}

void macro_table::store(const macro& m) {
    const auto slot = slot_letters.find(m.stage);
    if (slot == std::string_view::npos) return; // §3.2: accept any letter, use none we don't know
    const std::string_view pairs = m.pairs.raw();
    store_slot(slot, pairs.size(), [&](std::string& to) { to.append(pairs); });
}

void macro_table::store(const macro& m, const symbol_lists& keep) {
    const auto slot = slot_letters.find(m.stage);
    if (slot == std::string_view::npos) return;
    auto listed = [&](std::string_view name) {
        const auto wanted = bare_name(name);
        for (const auto& list : keep) {
            if (!list) continue;
            for (std::size_t at = 0; at < list->size();) { // names separated by spaces
                const auto end = std::min(list->find(' ', at), list->size());
                if (end > at && bare_name(list->substr(at, end - at)) == wanted) return true;
                at = end + 1;
            }
        }
        return false;
    };
    std::size_t size = 0;
    for (auto [name, value] : m.pairs)
        if (listed(name)) size += name.size() + value.size() + 2;
    store_slot(slot, size, [&](std::string& to) {
        for (auto [name, value] : m.pairs) {
            if (!listed(name)) continue;
            to.append(name).push_back('\0');
            to.append(value).push_back('\0');
        }
    });
}

void macro_table::clear_message() {
    data_.resize(ends_[mail_slot]); // the end of H's part (C H M: M is part mail_slot + 1)
    for (std::size_t later = mail_slot + 1; later < ends_.size(); ++later) ends_[later] = static_cast<std::uint32_t>(data_.size());
}

void macro_table::clear() {
    data_.clear();
    ends_ = {};
}

std::optional<std::string_view> macro_table::find(std::string_view name) const noexcept {
    const auto wanted = bare_name(name);
    auto search = [&](std::size_t slot) -> std::optional<std::string_view> {
        for (auto [n, v] : macro_pairs{part(slot == unknown_slot ? 0 : slot + 1)})
            if (bare_name(n) == wanted) return v;
        return std::nullopt;
    };
    for (std::size_t slot = unknown_slot; slot-- > 0;) // newest stage first
        if (auto v = search(slot)) return v;
    return search(unknown_slot);
}

macro_pairs macro_table::stage(char letter) const noexcept {
    const auto slot = slot_letters.find(letter);
    if (slot == std::string_view::npos) return {};
    return macro_pairs{part(slot == unknown_slot ? 0 : slot + 1)};
}

// ---------------------------------------------------------------- the state machine (§6)

std::string_view to_string(session_step s) noexcept {
    switch (s) {
    case session_step::none: return "none";
    case session_step::call_hook: return "call_hook";
    case session_step::abort_message: return "abort_message";
    case session_step::close: return "close";
    case session_step::new_connection: return "new_connection";
    }
    return "?";
}

std::string_view to_string(session_phase p) noexcept {
    switch (p) {
    case session_phase::awaiting_optneg: return "awaiting OPTNEG";
    case session_phase::negotiated: return "negotiated, before CONNECT";
    case session_phase::connected: return "connected, no message open";
    case session_phase::in_message: return "in a message";
    case session_phase::message_done: return "message done";
    case session_phase::closed: return "closed";
    }
    return "?";
}

namespace {

/// Position of a command in a message transaction (§6.2); 0 for non-message commands.
int message_stage_of(command_kind k) noexcept {
    switch (k) {
    case command_kind::mail: return 1;
    case command_kind::rcpt: return 2;
    case command_kind::data: return 3;
    case command_kind::header: return 4;
    case command_kind::end_of_headers: return 5;
    case command_kind::body: return 6;
    case command_kind::end_of_body: return 7;
    default: return 0;
    }
}

bool repeatable(command_kind k) noexcept {
    return k == command_kind::rcpt || k == command_kind::header || k == command_kind::body;
}

constexpr std::string_view after_stage[] = {"no message open", "after MAIL", "after RCPT", "after DATA",
                                            "after HEADER",    "after EOH",  "after BODY", "after BODYEOB"};

error out_of_order(command_kind k, std::string_view where) {
    return error{errc::out_of_order, static_cast<char>(k), where};
}

} // namespace

bool filter_session::reset_message(bool forget_macros) noexcept {
    const bool was_open = phase_ == session_phase::in_message;
    if (was_open || phase_ == session_phase::message_done) phase_ = session_phase::connected;
    message_stage_ = 0;
    replacing_body_ = body_replaced_ = false;
    if (forget_macros) macros_.clear_message();
    return was_open;
}

bool filter_session::on_disconnect() noexcept {
    const bool was_open = reset_message();
    phase_ = session_phase::closed;
    owed_.reset();
    return was_open;
}

session_event filter_session::deliver(command_kind k, bool aborted) {
    const bool expects = options_.expects_answer(k);
    owed_ = k;
    owed_silent_ = !expects;
    return {session_step::call_hook, aborted, expects};
}

result<session_event> filter_session::on_command(const command& cmd, std::string& out) {
    const command_kind k = kind_of(cmd);
    if (phase_ == session_phase::closed) return error{errc::session_closed, static_cast<char>(k), {}};

    if (k == command_kind::quit) { // §3.11: in any state
        const bool aborted = reset_message();
        phase_ = session_phase::closed;
        owed_.reset();
        macros_.clear();
        return session_event{session_step::close, aborted, false};
    }

    if (phase_ == session_phase::awaiting_optneg) {
        if (k != command_kind::optneg) return out_of_order(k, "before OPTNEG");
        auto reply = negotiate(std::get<optneg>(cmd), *request_);
        if (!reply) return reply.error();
        if (auto ok = encode(out, *reply); !ok) return ok.error();
        options_ = {reply->version, reply->actions, reply->protocol};
        phase_ = session_phase::negotiated;
        return session_event{};
    }
    if (k == command_kind::optneg) return out_of_order(k, "after negotiation");

    if (owed_) {
        // Answering a command the MTA waits no answer for is optional: the next command settles it.
        if (owed_silent_) owed_.reset();
        else if (k != command_kind::macro && k != command_kind::abort && k != command_kind::quit_new_connection)
            return out_of_order(k, "while the answer to the previous command is pending");
    }

    switch (k) {
    case command_kind::macro:
        if (request_->keep_listed_macros_only) macros_.store(std::get<macro>(cmd), request_->macros);
        else macros_.store(std::get<macro>(cmd));
        return session_event{};
    case command_kind::abort: { // §3.10: idempotent, at any time after negotiation
        owed_.reset();
        const bool was_open = reset_message();
        return session_event{was_open ? session_step::abort_message : session_step::none, false, false};
    }
    case command_kind::quit_new_connection: { // §3.12: keep the options, expect a new CONNECT
        owed_.reset();
        const bool aborted = reset_message();
        macros_.clear();
        phase_ = session_phase::negotiated;
        return session_event{session_step::new_connection, aborted, false};
    }
    case command_kind::connect:
        if (phase_ != session_phase::negotiated) return out_of_order(k, "after CONNECT (QUIT_NC must come first)");
        phase_ = session_phase::connected;
        return deliver(k);
    case command_kind::helo: {
        if (phase_ == session_phase::negotiated) {
            if (options_.sends(command_kind::connect)) return out_of_order(k, "before CONNECT");
            phase_ = session_phase::connected;
        }
        // HELO inside a transaction (EHLO resets SMTP state): end the message, like libmilter.
        const bool aborted = reset_message(false);
        return deliver(k, aborted);
    }
    case command_kind::unknown: // §6.3: possible at any time; it does not change the phase
        return deliver(k);
    default:
        return on_message_command(k);
    }
}

result<session_event> filter_session::on_message_command(command_kind k) {
    if (phase_ == session_phase::negotiated) {
        if (options_.sends(command_kind::connect)) return out_of_order(k, "before CONNECT");
        phase_ = session_phase::connected;
    }
    const int stage = message_stage_of(k);
    if (k == command_kind::mail) { // a new MAIL inside a message starts over (lenient, §6.3)
        const bool aborted = phase_ == session_phase::in_message;
        replacing_body_ = body_replaced_ = false;
        // Not reset_message(): the MAIL macros came just before this command and are for its
        // hook. Drop only the later stages' (§3.2, as libmilter does): storing an empty RCPT
        // stage forgets RCPT and everything after it.
        macros_.store(macro{'R', {}});
        phase_ = session_phase::in_message;
        message_stage_ = stage;
        return deliver(k, aborted);
    }
    if (phase_ != session_phase::in_message) {
        // With NOMAIL the first command the MTA sends for a message opens it.
        if (phase_ == session_phase::message_done || options_.sends(command_kind::mail))
            return out_of_order(k, phase_ == session_phase::message_done ? "after end of message (MAIL expected)"
                                                                         : "outside a message (MAIL expected)");
        phase_ = session_phase::in_message;
        message_stage_ = 0;
    }
    if (stage < message_stage_ || (stage == message_stage_ && !repeatable(k)))
        return out_of_order(k, after_stage[message_stage_]);
    message_stage_ = stage;
    if (k == command_kind::end_of_body) replacing_body_ = body_replaced_ = false;
    return deliver(k);
}

result<void> filter_session::answer(const reply& r, std::string& out) {
    const reply_kind rk = kind_of(r);
    const char letter = static_cast<char>(rk);
    if (!owed_) return error{errc::reply_not_expected, letter, "no command awaits an answer"};
    const command_kind cmd = *owed_;
    if (rk == reply_kind::optneg) return error{errc::reply_not_expected, letter, "OPTNEG is answered by the session"};

    if (rk == reply_kind::progress || is_modification(rk)) {
        if (cmd != command_kind::end_of_body)
            return error{errc::reply_not_expected, letter, "only in the answer to end of message"};
        if (const auto needed = required_action(rk); !options_.actions.contains(needed))
            return error{errc::not_negotiated, letter, "actions", needed - options_.actions};
        if (rk == reply_kind::replace_body) {
            // §4.2: Postfix takes REPLBODY packets only as one contiguous run.
            if (body_replaced_) return error{errc::out_of_order, letter, "REPLBODY after the body replacement ended"};
        }
        if (auto ok = encode(out, r); !ok) return ok;
        if (rk == reply_kind::replace_body) replacing_body_ = true;
        else if (replacing_body_) replacing_body_ = false, body_replaced_ = true;
        return {};
    }

    reply verdict = r;
    if (rk == reply_kind::skip) {
        if (cmd != command_kind::body) return error{errc::reply_not_expected, letter, "SKIP only answers BODY"};
        if (!options_.protocol.has(protocol::skip)) verdict = continue_{}; // the MTA cannot skip: keep reading
    }
    if (rk == reply_kind::discard && (cmd == command_kind::connect || cmd == command_kind::helo))
        return error{errc::reply_not_expected, letter, "DISCARD is not allowed at CONNECT or HELO"};

    if (owed_silent_) {
        if (!std::holds_alternative<continue_>(verdict))
            return error{errc::reply_not_expected, letter, "the MTA waits for no answer here (NR negotiated)"};
    } else if (auto ok = encode(out, verdict); !ok) {
        return ok;
    }
    owed_.reset();
    if (cmd == command_kind::end_of_body) {
        phase_ = session_phase::message_done;
        message_stage_ = 0;
    }
    return {};
}

} // namespace cppmilter::proto
