// Runs a pipeline for one MTA connection: protocol session in, hooks called, answers out.
#pragma once

#include <cppmilter/dsl/milter.hpp>
#include <cppmilter/proto/encoder.hpp>
#include <cppmilter/proto/session.hpp>

#include <boost/hana/at.hpp>
#include <boost/hana/range.hpp>

#include <exception>
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
decltype(auto) call(const F& f, const E& event, Ctx& ctx) {
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

} // namespace detail

/// One MTA connection of a pipeline, synchronously: feed it decoded commands, it calls the
/// hooks, keeps the state scopes and appends the answers to your buffer. Used by the
/// in-process test harness; the Asio server does the same with awaitable hooks.
template <class Pipeline>
class connection {
public:
    /// `fallback` answers a command whose hook threw (default tempfail).
    explicit connection(const Pipeline& p, verdict fallback = tempfail)
        : pipeline_{p}, session_{Pipeline::negotiation.request()}, fallback_{std::move(fallback)} {}

    /// Handles one command; the answer (if any) is appended to `out`. On error the caller
    /// closes the connection; on session_step::close too.
    proto::result<proto::session_step> handle(const proto::command& cmd, std::string& out) {
        auto ev = begin(cmd, out);
        if (!ev) return ev.error();
        if (ev->step == proto::session_step::call_hook) {
            try {
                if (auto ok = dispatch_command(cmd, out); !ok) return ok.error();
            } catch (const std::exception& e) {
                hook_error_ = e.what();
                if (auto ok = recover(out); !ok) return ok.error();
            } catch (...) {
                hook_error_ = "an exception not derived from std::exception";
                if (auto ok = recover(out); !ok) return ok.error();
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

    static constexpr auto part_indices = hana::make_range(hana::size_c<0>, hana::length(Pipeline::part_types));
    static constexpr int buffering = Pipeline::eom_buffering();

    /// Calls `f(element, ctx)` for each hook of stage S in pipeline order, with that part's
    /// context, until `f` returns true (a decision was made).
    template <stage S, class F>
    void for_each_hook(F&& f) {
        bool decided = false;
        hana::for_each(part_indices, [&](auto i) {
            auto& part = hana::at(pipeline_.parts, i);
            auto& state = hana::at(states_, i);
            using part_type = std::remove_cvref_t<decltype(part)>;
            hana::for_each(part.elements, [&](const auto& element) {
                using E = std::remove_cvref_t<decltype(element)>;
                if constexpr (detail::is_hook<E>::value) {
                    if constexpr (E::at == S) {
                        if (decided) return;
                        using Ctx = typename part_type::template context_type<S>;
                        static_assert(!detail::awaited<std::remove_cvref_t<typename detail::hook_result<S, decltype(E::fn), Ctx>::type>>::is_async,
                                      "cppmilter: this milter has an async hook: run it with the Asio "
                                      "server; the in-process connection and harness are synchronous");
                        Ctx ctx{state.connection, state.message, session_.macros()};
                        decided = f(element, ctx);
                    }
                }
            });
        });
    }

    /// Runs the hooks of stage S in part order until one returns something other than next.
    template <stage S, class Event>
    verdict run(const Event& event) {
        verdict decision = next;
        for_each_hook<S>([&](const auto& element, auto& ctx) {
            using R = typename detail::hook_result<S, decltype(element.fn), std::remove_cvref_t<decltype(ctx)>>::type;
            if constexpr (std::is_void_v<R>) {
                detail::call<S>(element.fn, event, ctx);
                return false;
            } else {
                verdict v = body_verdict{detail::call<S>(element.fn, event, ctx)};
                if (v.is_next()) return false;
                decision = std::move(v);
                return true;
            }
        });
        return decision;
    }

    proto::result<void> answer(const verdict& v, std::string& out) { return session_.answer(v.to_reply(), out); }

    /// Number of hooks of stage `s` over all parts.
    static constexpr std::size_t hooks_at(stage s) {
        return hana::fold_left(Pipeline::part_types, std::size_t{0},
                               [s](std::size_t n, auto pt) { return n + decltype(pt)::type::hooks_at(s); });
    }

    /// The commands that reach hooks, by variant index: a switch the compiler inlines (std::visit
    /// over the 15 alternatives of proto::command is an out-of-line call through a table).
    proto::result<void> dispatch_command(const proto::command& cmd, std::string& out) {
        switch (cmd.index()) {
        case detail::index_in_command<proto::connect>: return dispatch(*std::get_if<proto::connect>(&cmd), out);
        case detail::index_in_command<proto::helo>: return dispatch(*std::get_if<proto::helo>(&cmd), out);
        case detail::index_in_command<proto::mail>: return dispatch(*std::get_if<proto::mail>(&cmd), out);
        case detail::index_in_command<proto::rcpt>: return dispatch(*std::get_if<proto::rcpt>(&cmd), out);
        case detail::index_in_command<proto::data>: return dispatch(*std::get_if<proto::data>(&cmd), out);
        case detail::index_in_command<proto::header>: return dispatch(*std::get_if<proto::header>(&cmd), out);
        case detail::index_in_command<proto::end_of_headers>: return dispatch(*std::get_if<proto::end_of_headers>(&cmd), out);
        case detail::index_in_command<proto::body>: return dispatch(*std::get_if<proto::body>(&cmd), out);
        case detail::index_in_command<proto::end_of_body>: return dispatch(*std::get_if<proto::end_of_body>(&cmd), out);
        case detail::index_in_command<proto::unknown>: return dispatch(*std::get_if<proto::unknown>(&cmd), out);
        default: return {}; // OPTNEG, MACRO, ABORT, QUIT, QUIT_NC never reach hooks
        }
    }

    /// A stage without hooks answers continue without building a verdict.
    template <stage S, class Event>
    proto::result<void> run_and_answer(const Event& event, std::string& out) {
        if constexpr (hooks_at(S) == 0) return session_.answer(proto::continue_{}, out);
        else return answer(run<S>(event), out);
    }

    template <class Command>
    proto::result<void> dispatch(const Command& cmd, std::string& out) {
        if constexpr (std::is_same_v<Command, proto::connect>) {
            reset_connection();
            return run_and_answer<stage::connect>(cmd, out);
        } else if constexpr (std::is_same_v<Command, proto::helo>) {
            return run_and_answer<stage::helo>(cmd, out);
        } else if constexpr (std::is_same_v<Command, proto::mail>) {
            reset_message();
            return run_and_answer<stage::mail_from>(cmd, out);
        } else if constexpr (std::is_same_v<Command, proto::rcpt>) {
            return run_and_answer<stage::rcpt>(cmd, out);
        } else if constexpr (std::is_same_v<Command, proto::data>) {
            return run_and_answer<stage::data>(cmd, out);
        } else if constexpr (std::is_same_v<Command, proto::header>) {
            if constexpr (buffering >= 1) keep_header(cmd);
            return run_and_answer<stage::header>(cmd, out);
        } else if constexpr (std::is_same_v<Command, proto::end_of_headers>) {
            return run_and_answer<stage::end_of_headers>(cmd, out);
        } else if constexpr (std::is_same_v<Command, proto::body>) {
            if constexpr (hooks_at(stage::body) == 0) {
                (void)body_wanted(cmd.chunk); // keeps the chunk if buffered
                return session_.answer(proto::continue_{}, out);
            } else {
                return answer(body(cmd.chunk), out);
            }
        } else if constexpr (std::is_same_v<Command, proto::end_of_body>) {
            if (!cmd.chunk.empty()) (void)body(cmd.chunk); // a last chunk, as libmilter does (§3.7)
            auto ok = finish_message(out);
            reset_message();
            return ok;
        } else if constexpr (std::is_same_v<Command, proto::unknown>) {
            return run_and_answer<stage::unknown>(cmd, out);
        } else {
            return {}; // never delivered to hooks (OPTNEG, MACRO, ABORT, QUIT, QUIT_NC)
        }
    }

    verdict body(std::string_view chunk) {
        if (!body_wanted(chunk)) return next;
        return after_body(run<stage::body>(body_chunk{chunk}));
    }

    /// Keeps the chunk if needed; false when the body hooks must not be called (they said skip
    /// but the MTA cannot skip).
    bool body_wanted(std::string_view chunk) {
        if constexpr (buffering >= 2) body_.append(chunk);
        return !body_skipped_;
    }
    verdict after_body(verdict v) {
        if (v.what() == verdict::kind::skip) {
            body_skipped_ = true;
            if (!session_.options().protocol.has(proto::protocol::skip)) return next;
        }
        return v;
    }

    /// The event an end-of-message hook taking `Event` receives.
    template <class Event>
    const Event& eom_event_for() {
        if constexpr (std::is_same_v<Event, whole_message>) {
            whole_ = whole_message{{std::span<const header_field>{headers_.data(), header_count_}}, body_};
            return whole_;
        } else if constexpr (std::is_same_v<Event, message_headers>) {
            headers_view_ = message_headers{std::span<const header_field>{headers_.data(), header_count_}};
            return headers_view_;
        } else {
            return no_buffer_;
        }
    }

    /// Applies what an end-of-message hook returned: its modifications go to `out` (through the
    /// session's checks), its verdict to `v`. `status` keeps the first failure.
    template <class T>
    void apply_eom_result(T&& result, verdict& v, proto::result<void>& status, std::string& out) {
        using R = std::remove_cvref_t<T>;
        auto apply = [&](const auto& modification) {
            if (status) status = session_.answer(modification.to_reply(), out);
        };
        if constexpr (detail::is_eom<R>::value) {
            for (const auto& m : result.modifications()) std::visit(apply, m);
            v = result.final_verdict();
        } else if constexpr (detail::is_modification<R>::value) {
            apply(result);
        } else {
            v = verdict{std::forward<T>(result)};
        }
    }

    proto::result<void> finish_message(std::string& out) {
        verdict decision = next;
        proto::result<void> status;
        for_each_hook<stage::end_of_message>([&](const auto& element, auto& ctx) {
            using Ctx = std::remove_cvref_t<decltype(ctx)>;
            using Event = typename detail::eom_event<decltype(element.fn), Ctx>::type;
            using R = typename detail::hook_result<stage::end_of_message, decltype(element.fn), Ctx>::type;
            verdict v = next;
            if constexpr (std::is_void_v<R>)
                detail::call<stage::end_of_message>(element.fn, eom_event_for<Event>(), ctx);
            else
                apply_eom_result(detail::call<stage::end_of_message>(element.fn, eom_event_for<Event>(), ctx), v,
                                 status, out);
            if (v.is_next()) return false;
            decision = std::move(v);
            return true;
        });
        if (!status) return status;
        return answer(decision, out);
    }

    void keep_header(const proto::header& h) {
        if (header_count_ == headers_.size()) headers_.emplace_back();
        auto& slot = headers_[header_count_++]; // reuse the strings' capacity across messages
        slot.name.assign(h.name);
        slot.value.assign(h.value);
    }

    template <stage S>
    void run_void() {
        if constexpr (S == stage::abort) (void)run<S>(abort_info{});
        else (void)run<S>(close_info{});
    }

    void abort_message() {
        run_void<stage::abort>();
        reset_message();
    }

    void close_connection() {
        run_void<stage::close>();
        reset_message();
        reset_connection();
    }

    void reset_message() {
        hana::for_each(states_, [](auto& s) { s.message = {}; });
        header_count_ = 0;
        body_.clear();
        body_skipped_ = false;
    }

    void reset_connection() {
        hana::for_each(states_, [](auto& s) { s.connection = {}; });
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
    std::vector<header_field> headers_;
    std::size_t header_count_ = 0;
    std::string body_;
    bool body_skipped_ = false;
    cppmilter::end_of_message no_buffer_{};
    message_headers headers_view_{};
    whole_message whole_{};
    verdict fallback_;
    std::string hook_error_;
};

} // namespace cppmilter
