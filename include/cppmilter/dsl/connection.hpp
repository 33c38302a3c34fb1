// Runs a pipeline for one MTA connection: protocol session in, hooks called, answers out.
#pragma once

#include <cppmilter/dsl/body_spool.hpp>
#include <cppmilter/dsl/editable.hpp>
#include <cppmilter/dsl/milter.hpp>
#include <cppmilter/mail/message.hpp>
#include <cppmilter/proto/encoder.hpp>
#include <cppmilter/proto/session.hpp>

#include <boost/hana/at.hpp>
#include <boost/hana/range.hpp>

#include <exception>
#include <stdexcept>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace cppmilter {

namespace detail {

/// The state of one part for one connection.
template <class Part>
struct part_state {
    typename Part::connection_state connection{};
    typename Part::message_state message{};
};

/// Calls a hook in whatever shape it takes and turns what it returns into a decision.
template <stage S, class F, class Ctx, class E>
decltype(auto) call(const F& f, E& event, Ctx& ctx) { // E: const, or the editable message
    constexpr call_shape shape = shape_of<S, F, Ctx>();
    if constexpr (shape == call_shape::event_and_context) return f(event, ctx);
    else if constexpr (shape == call_shape::event_only) return f(event);
    else if constexpr (shape == call_shape::context_only) return f(ctx);
    else return f();
}

/// The position of T among proto::command's alternatives.
template <class T, class Variant = proto::command>
struct command_index;
template <class T, class... Ts>
struct command_index<T, std::variant<Ts...>> {
    static constexpr std::size_t value = [] {
        constexpr bool same[] = {std::is_same_v<T, Ts>...};
        std::size_t i = 0;
        while (!same[i]) ++i;
        return i;
    }();
};
template <class T>
inline constexpr std::size_t index_in_command = command_index<T>::value;

/// The stage whose hooks a command reaches; nullopt for OPTNEG, MACRO, ABORT and the QUITs.
template <class Command>
constexpr std::optional<stage> stage_of() {
    if constexpr (std::is_same_v<Command, proto::connect>) return stage::connect;
    else if constexpr (std::is_same_v<Command, proto::helo>) return stage::helo;
    else if constexpr (std::is_same_v<Command, proto::mail>) return stage::mail_from;
    else if constexpr (std::is_same_v<Command, proto::rcpt>) return stage::rcpt;
    else if constexpr (std::is_same_v<Command, proto::data>) return stage::data;
    else if constexpr (std::is_same_v<Command, proto::header>) return stage::header;
    else if constexpr (std::is_same_v<Command, proto::end_of_headers>) return stage::end_of_headers;
    else if constexpr (std::is_same_v<Command, proto::body>) return stage::body;
    else if constexpr (std::is_same_v<Command, proto::end_of_body>) return stage::end_of_message;
    else if constexpr (std::is_same_v<Command, proto::unknown>) return stage::unknown;
    else return std::nullopt;
}

/// ESMTP arguments as one string, "SIZE=10 BODY=8BITMIME" (how CHGFROM and ADDRCPT_PAR carry them).
inline std::string joined(const proto::string_list& args) {
    std::string out;
    for (auto a : args) {
        if (!out.empty()) out += ' ';
        out += a;
    }
    return out;
}

/// Stands in for the editor's members in a pipeline that edits nothing (one type per member,
/// so that [[no_unique_address]] gives them no room at all).
template <int>
struct no_editor {};

} // namespace detail

/// One MTA connection of a pipeline: feed it decoded commands, it calls the hooks, keeps the
/// state scopes and appends the answers to your buffer. Every per-stage rule (state resets,
/// header keeping, body buffering, skip, end of message) lives here, once; hooks are called
/// directly. `async_connection` adds only the awaiting of asynchronous hooks on top of it.
template <class Pipeline>
class connection {
public:
    /// `fallback` answers a command whose hook threw (default tempfail).
    explicit connection(const Pipeline& p, verdict fallback = tempfail) : connection{p, std::move(fallback), derived_tag{}} {
        static_assert(!Pipeline::any_async(),
                      "cppmilter: this milter has an asynchronous hook: run it with cm::async_connection "
                      "(the server and cm::testing::harness choose it for you)");
    }

    /// Handles one command; the answer (if any) is appended to `out`. On error the caller
    /// closes the connection; on session_step::close too.
    proto::result<proto::session_step> handle(const proto::command& cmd, std::string& out) {
        auto ev = begin(cmd, out);
        if (!ev) return ev.error();
        if (ev->step == proto::session_step::call_hook) {
            try {
                if (auto ok = dispatch_command(cmd, out); !ok) return ok.error();
            } catch (const std::exception& e) {
                if (auto ok = hook_failed(e.what(), out); !ok) return ok.error();
            } catch (...) {
                if (auto ok = hook_failed("an exception not derived from std::exception", out); !ok) return ok.error();
            }
        }
        return ev->step;
    }

    /// The transport ended without QUIT: abort and close hooks run as for QUIT.
    void on_disconnect() {
        if (session_.on_disconnect()) abort_message();
        close_connection();
    }

    const proto::filter_session& session() const noexcept { return session_; }

    /// What the last hook that threw said, once (the server logs it); empty if none did.
    std::string take_hook_error() { return std::exchange(hook_error_, {}); }

    /// Answers the command being handled with the fallback verdict: for a hook that threw, or
    /// (in the server) one that timed out. Nothing is written where no answer is owed.
    proto::result<void> recover(std::string& out) {
        const auto owed = session_.awaiting_answer();
        if (!owed) return {};
        if (*owed == proto::command_kind::end_of_body) reset_message();
        auto ok = session_.answer(fallback_.to_reply(), out);
        if (!ok && ok.error().code == proto::errc::reply_not_expected) // NR: the MTA waits for nothing
            return session_.answer(proto::continue_{}, out);
        return ok;
    }

protected:
    struct derived_tag {};
    connection(const Pipeline& p, verdict fallback, derived_tag)
        : pipeline_{p}, session_{&negotiation_request}, fallback_{std::move(fallback)} {}

    /// Hands the command to the session and carries out everything but the hook call: state
    /// resets, abort and close hooks.
    proto::result<proto::session_event> begin(const proto::command& cmd, std::string& out) {
        auto ev = session_.on_command(cmd, out);
        if (!ev) return ev;
        if (ev->aborted_message) abort_message();
        switch (ev->step) {
        case proto::session_step::abort_message: abort_message(); break;
        case proto::session_step::close:
        case proto::session_step::new_connection: close_connection(); break;
        default: break;
        }
        return ev;
    }

    /// Records what a failed hook said and answers with the fallback.
    proto::result<void> hook_failed(std::string what, std::string& out) {
        hook_error_ = std::move(what);
        return recover(out);
    }

    static constexpr auto part_indices = hana::make_range(hana::size_c<0>, hana::length(Pipeline::part_types));
    static constexpr int buffering = Pipeline::eom_buffering();
    static constexpr bool editing = Pipeline::eom_editing();
    static constexpr bool envelope = Pipeline::eom_envelope();

    // One per pipeline type, for all its connections (the session keeps its address). A hook
    // reads only the macros it declared, so only those are kept; a pipeline that edits the
    // message also reads `v` (which MTA: its header index rules) and keeps every macro.
    static constexpr proto::negotiation_request negotiation_request = [] {
        auto request = Pipeline::negotiation.request();
        request.keep_listed_macros_only = !editing;
        return request;
    }();

    /// What the hooks of one stage decided, in the order they ran: the first verdict that is
    /// not next, and (at end of message) whether applying the modifications failed.
    struct outcome {
        verdict decision = next;
        proto::result<void> status{};
    };

    /// The hooks of stage S as (part index, element index) pairs, in pipeline order.
    template <stage S>
    static constexpr auto hooks_of() {
        return hana::fold_left(part_indices, hana::make_tuple(), [](auto acc, auto pi) {
            using P = typename decltype(+hana::at(Pipeline::part_types, pi))::type;
            auto elements = hana::make_range(hana::size_c<0>, hana::length(P::element_types));
            auto here = hana::filter(hana::to_tuple(elements), [=](auto ei) {
                using E = typename decltype(+hana::at(P::element_types, ei))::type;
                if constexpr (detail::is_hook<E>::value) return hana::bool_c<E::at == S>;
                else return hana::false_c;
            });
            return hana::concat(acc, hana::transform(here, [pi](auto ei) { return hana::make_pair(pi, ei); }));
        });
    }
    template <stage S>
    static constexpr std::size_t hook_count = decltype(hana::length(hooks_of<S>()))::value;

    /// The types around hook I of stage S.
    template <stage S, std::size_t I>
    struct hook_at {
        using pair = decltype(hana::at_c<I>(hooks_of<S>()));
        using part_index = std::remove_cvref_t<decltype(hana::first(std::declval<pair>()))>;
        using element_index = std::remove_cvref_t<decltype(hana::second(std::declval<pair>()))>;
        using part_type = typename decltype(+hana::at(Pipeline::part_types, part_index{}))::type;
        using element_type = typename decltype(+hana::at(part_type::element_types, element_index{}))::type;
        using context_type = typename part_type::template context_type<S>;
        /// What calling it returns (an awaitable for an asynchronous hook).
        using result = std::remove_cvref_t<typename detail::hook_result<S, decltype(element_type::fn), context_type>::type>;
        static constexpr bool is_async = detail::awaited<result>::is_async;
        /// Declared cm::blocking: async_connection runs it on the blocking pool.
        static constexpr bool is_blocking = detail::awaited<result>::is_blocking;
    };

    /// The context hook I of stage S receives. Kept by the caller for as long as the hook
    /// runs (an asynchronous hook holds on to it).
    template <stage S, std::size_t I>
    typename hook_at<S, I>::context_type context_for() {
        auto& state = hana::at(states_, typename hook_at<S, I>::part_index{});
        return {state.connection, state.message, session_.macros()};
    }

    /// The event hook I of stage S receives: the command's, or at end of message the one the
    /// hook asked for (the editable message is a handle, returned by value: the caller keeps
    /// it for as long as the hook runs).
    template <stage S, std::size_t I, class Event>
    decltype(auto) event_for(const Event& event) {
        if constexpr (S == stage::end_of_message) {
            using at = hook_at<S, I>;
            using Ev = typename detail::eom_event<decltype(at::element_type::fn), typename at::context_type>::type;
            if constexpr (detail::is_editable<Ev>::value) return Ev{editor_};
            else return eom_event_for<Ev>();
        } else {
            return (event);
        }
    }

    /// Calls hook I of stage S with its event and context.
    template <stage S, std::size_t I, class Event, class Ctx>
    decltype(auto) call_hook(Event& event, Ctx& ctx) {
        using at = hook_at<S, I>;
        const auto& fn = hana::at(hana::at(pipeline_.parts, typename at::part_index{}).elements,
                                  typename at::element_index{}).fn;
        return detail::call<S>(fn, event, ctx);
    }

    /// Records what a hook decided; true when it decided (the hooks after it are not called).
    template <stage S, class T>
    bool decide(T&& result, outcome& o, std::string& out) {
        verdict v = verdict_of<S>(std::forward<T>(result), o, out);
        if (v.is_next()) return false;
        o.decision = std::move(v);
        return true;
    }
    /// The verdict in what a hook returned; at end of message, its modifications go to `out`.
    template <stage S, class T>
    verdict verdict_of(T&& result, outcome& o, std::string& out) {
        using R = std::remove_cvref_t<T>;
        if constexpr (S != stage::end_of_message) {
            return body_verdict{std::forward<T>(result)};
        } else if constexpr (detail::is_eom<R>::value) {
            for (const auto& m : result.modifications()) std::visit([&](const auto& mod) { apply(mod, o, out); }, m);
            return result.final_verdict();
        } else if constexpr (detail::is_modification<R>::value) {
            apply(result, o, out);
            return next;
        } else {
            return verdict{std::forward<T>(result)};
        }
    }
    template <class Modification>
    void apply(const Modification& m, outcome& o, std::string& out) {
        if (o.status) o.status = session_.answer(m.to_reply(), out); // keeps the first failure
    }

    /// Runs the hooks of stage S from the I-th on, in pipeline order, until one decides.
    /// Synchronous hooks only: async_connection runs stages that have an asynchronous one.
    template <stage S, std::size_t I = 0, class Event>
    void run(const Event& event, outcome& o, std::string& out) {
        if constexpr (I < hook_count<S>) {
            static_assert(!hook_at<S, I>::is_async);
            auto ctx = context_for<S, I>();
            auto&& ev = event_for<S, I>(event);
            if constexpr (std::is_void_v<typename hook_at<S, I>::result>) call_hook<S, I>(ev, ctx);
            else if (decide<S>(call_hook<S, I>(ev, ctx), o, out)) return;
            run<S, I + 1>(event, o, out);
        }
    }

    /// The rules before a stage's hooks run; false when they must not be called (a skipped body).
    template <stage S, class Event>
    bool before_hooks(const Event& event) {
        if constexpr (S == stage::connect) {
            reset_connection();
        } else if constexpr (S == stage::mail_from) {
            reset_message();
            if constexpr (envelope) editor_.received_sender(std::string{event.address}, detail::joined(event.esmtp_args));
        } else if constexpr (S == stage::rcpt) {
            if constexpr (envelope) editor_.recipients().received(std::string{event.address}, detail::joined(event.esmtp_args));
        } else if constexpr (S == stage::end_of_message) {
            if constexpr (editing && buffering >= 2) editor_.reset({headers_.data(), header_count_}, body_.view());
            else if constexpr (editing) editor_.reset({headers_.data(), header_count_});
        } else if constexpr (S == stage::header) {
            if constexpr (buffering >= 1) keep_header(event);
        } else if constexpr (S == stage::body) {
            // Throws when a large body cannot be spilled (disk full): answered like a hook that threw.
            if constexpr (buffering >= 2) body_.append(event.chunk);
            return !body_skipped_;
        }
        return true;
    }

    /// A body hook said skip: note it, so that it is not called again for this message; an MTA
    /// that cannot skip is answered continue instead.
    void settle_body(verdict& v) {
        if (v.what() != verdict::kind::skip) return;
        body_skipped_ = true;
        if (!session_.options().protocol.has(proto::protocol::skip)) v = next;
    }

    /// The rules after a stage's hooks ran, and its answer.
    template <stage S>
    proto::result<void> after_hooks(outcome& o, std::string& out) {
        // A cm::verdict holding discard where no message exists yet: a fault of the hook, so it
        // is answered like one that threw (the fallback, and a log line), not by closing.
        if constexpr (S == stage::connect || S == stage::helo)
            if (o.decision.what() == verdict::kind::discard)
                throw std::logic_error{"a hook answered discard at " + std::string{S == stage::connect ? "CONNECT" : "HELO"} +
                                       ", where there is no message to discard yet"};
        if constexpr (S == stage::body) settle_body(o.decision);
        if constexpr (S == stage::rcpt && envelope)
            if (refuses(o.decision)) editor_.recipients().drop_last_received(); // the MTA will not take it
        if constexpr (S == stage::end_of_message) {
            if constexpr (editing)
                if (o.status && !refuses(o.decision)) send_edits(o, out);
            reset_message();
            if (!o.status) return o.status;
        }
        if constexpr (hook_count<S> == 0) return session_.answer(proto::continue_{}, out);
        else return session_.answer(o.decision.to_reply(), out);
    }

    static bool refuses(const verdict& v) noexcept {
        using k = verdict::kind;
        return v.what() == k::reject || v.what() == k::tempfail || v.what() == k::reply || v.what() == k::discard;
    }

    /// The editable message's edits as modifications, with the index rules of the MTA (read
    /// from macro `v` once per connection). Negotiation granted every action the declared
    /// edits need, or the connection would not exist; checked again before anything is sent.
    void send_edits(outcome& o, std::string& out) {
        if (!dialect_) dialect_ = mail::dialect_from_version(session_.macros().find("v"));
        edits_.clear();
        editor_.diff(*dialect_, edits_);
        if (edits_.empty()) return;
        if (!session_.options().actions.contains(Pipeline::negotiation.actions))
            throw std::logic_error("the message edits need an action the MTA did not grant");
        for (const auto& m : edits_)
            if (o.status) o.status = session_.answer(m, out);
    }

    /// The commands that reach hooks, by variant index: a switch the compiler inlines (std::visit
    /// over the 15 alternatives of proto::command is an out-of-line call through a table).
    template <class Dispatch>
    static decltype(auto) by_kind(const proto::command& cmd, Dispatch&& d) {
        switch (cmd.index()) {
        case detail::index_in_command<proto::connect>: return d(*std::get_if<proto::connect>(&cmd));
        case detail::index_in_command<proto::helo>: return d(*std::get_if<proto::helo>(&cmd));
        case detail::index_in_command<proto::mail>: return d(*std::get_if<proto::mail>(&cmd));
        case detail::index_in_command<proto::rcpt>: return d(*std::get_if<proto::rcpt>(&cmd));
        case detail::index_in_command<proto::data>: return d(*std::get_if<proto::data>(&cmd));
        case detail::index_in_command<proto::header>: return d(*std::get_if<proto::header>(&cmd));
        case detail::index_in_command<proto::end_of_headers>: return d(*std::get_if<proto::end_of_headers>(&cmd));
        case detail::index_in_command<proto::body>: return d(*std::get_if<proto::body>(&cmd));
        case detail::index_in_command<proto::end_of_body>: return d(*std::get_if<proto::end_of_body>(&cmd));
        case detail::index_in_command<proto::unknown>: return d(*std::get_if<proto::unknown>(&cmd));
        default: return d(std::monostate{}); // OPTNEG, MACRO, ABORT, QUIT, QUIT_NC never reach hooks
        }
    }

    proto::result<void> dispatch_command(const proto::command& cmd, std::string& out) {
        return by_kind(cmd, [&](const auto& c) { return dispatch(c, out); });
    }

    /// Whether a command's hooks include an asynchronous one: async_connection awaits those.
    template <class Command>
    static constexpr bool awaited_command = [] {
        constexpr auto S = detail::stage_of<Command>();
        if constexpr (!S) return false;
        else return Pipeline::async_at(*S) || (*S == stage::end_of_message && Pipeline::async_at(stage::body));
    }();

    /// One command through its stage, synchronously.
    template <class Command>
    proto::result<void> dispatch(const Command& cmd, std::string& out) {
        constexpr auto S = detail::stage_of<Command>();
        if constexpr (!S || awaited_command<Command>) {
            return {}; // no hooks (OPTNEG, MACRO, ...), or awaited by async_connection
        } else {
            if constexpr (*S == stage::end_of_message) {
                if (!cmd.chunk.empty()) { // a last chunk, as libmilter does (§3.7): its verdict is not owed
                    const body_chunk chunk{cmd.chunk};
                    outcome last;
                    if (before_hooks<stage::body>(chunk)) run<stage::body>(chunk, last, out);
                    settle_body(last.decision);
                }
            }
            if constexpr (hook_count<*S> == 0 && *S != stage::end_of_message) {
                (void)before_hooks<*S>(cmd); // keeps what end of message reads
                return session_.answer(proto::continue_{}, out);
            } else {
                outcome o;
                if (before_hooks<*S>(cmd)) run<*S>(cmd, o, out);
                return after_hooks<*S>(o, out);
            }
        }
    }

    /// The event an end-of-message hook taking `Event` receives.
    template <class Event>
    const Event& eom_event_for() {
        if constexpr (std::is_same_v<Event, whole_message>) {
            whole_ = whole_message{{std::span<const header_field>{headers_.data(), header_count_}}, body_.view()};
            return whole_;
        } else if constexpr (std::is_same_v<Event, message_headers>) {
            headers_view_ = message_headers{std::span<const header_field>{headers_.data(), header_count_}};
            return headers_view_;
        } else {
            return no_buffer_;
        }
    }

    void keep_header(const proto::header& h) {
        if (header_count_ == headers_.size()) headers_.emplace_back();
        auto& slot = headers_[header_count_++]; // reuse the strings' capacity across messages
        slot.name.assign(h.name);
        slot.value.assign(h.value);
    }

    /// Runs the abort or close hooks (observers: they cannot answer).
    template <stage S>
    void run_observers() {
        outcome ignored;
        std::string nothing;
        if constexpr (S == stage::abort) run<S>(abort_info{}, ignored, nothing);
        else run<S>(close_info{}, ignored, nothing);
    }

    void abort_message() {
        run_observers<stage::abort>();
        reset_message();
    }

    void close_connection() {
        run_observers<stage::close>();
        reset_message();
        reset_connection();
    }

    void reset_message() {
        hana::for_each(states_, [](auto& s) { s.message = {}; });
        header_count_ = 0;
        if constexpr (buffering >= 2) body_.clear();
        body_skipped_ = false;
    }

    void reset_connection() {
        hana::for_each(states_, [](auto& s) { s.connection = {}; });
        if constexpr (editing) dialect_.reset();
    }

    template <class>
    struct states_of;
    template <class... Parts>
    struct states_of<pipeline_t<Parts...>> {
        using type = hana::tuple<detail::part_state<Parts>...>;
    };

    const Pipeline& pipeline_;
    proto::filter_session session_;
    typename states_of<Pipeline>::type states_{};
    // What end of message needs, only where a hook takes it: every idle connection carries these.
    [[no_unique_address]] std::conditional_t<(buffering >= 1), std::vector<header_field>, detail::no_editor<3>> headers_{};
    std::size_t header_count_ = 0;
    // In memory, or in a temporary file above the spill threshold.
    [[no_unique_address]] std::conditional_t<(buffering >= 2), body_spool, detail::no_editor<4>> body_{};
    bool body_skipped_ = false;
    cppmilter::end_of_message no_buffer_{};
    [[no_unique_address]] std::conditional_t<(buffering >= 1), message_headers, detail::no_editor<5>> headers_view_{};
    [[no_unique_address]] std::conditional_t<(buffering >= 2), whole_message, detail::no_editor<6>> whole_{};
    verdict fallback_;
    std::string hook_error_;
    [[no_unique_address]] std::conditional_t<editing, mail::message_editor, detail::no_editor<0>> editor_{};
    [[no_unique_address]] std::conditional_t<editing, std::vector<proto::reply>, detail::no_editor<1>> edits_{}; // reused
    [[no_unique_address]] std::conditional_t<editing, std::optional<mail::mta_dialect>, detail::no_editor<2>> dialect_{};
};

} // namespace cppmilter
