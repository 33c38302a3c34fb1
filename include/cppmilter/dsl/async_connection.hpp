// A connection whose hooks may return boost::asio::awaitable<...>: awaited on the caller's
// executor, bounded by the hook timeout, with PROGRESS sent while end of message waits.
#pragma once

#include <cppmilter/dsl/blocking_pool.hpp>
#include <cppmilter/dsl/connection.hpp>
#include <cppmilter/proto/encoder.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cassert>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace cppmilter {

/// Thrown (and answered with the fallback verdict) when an asynchronous or blocking hook overruns.
struct hook_timeout : std::runtime_error {
    hook_timeout() : std::runtime_error{"an asynchronous or blocking hook did not finish within --hook-timeout"} {}
};

/// How long asynchronous hooks may take, how often PROGRESS keeps the MTA waiting, and where
/// blocking hooks run.
struct hook_limits {
    std::chrono::milliseconds timeout = std::chrono::seconds{60};
    std::chrono::milliseconds progress_interval = std::chrono::seconds{10};
    /// The pool for cm::blocking hooks; null: default_blocking_pool().
    std::shared_ptr<blocking_pool> blocking{};
};

/// A connection of a pipeline with asynchronous hooks. The per-stage rules are connection's;
/// this adds the awaiting: a command whose stage has an asynchronous hook goes through
/// handle_async(), every other one through the synchronous handle() at no coroutine cost.
template <class Pipeline>
class async_connection : public connection<Pipeline> {
    using base = connection<Pipeline>;
    using outcome = typename base::outcome;

public:
    /// Sends a PROGRESS packet to the MTA now (the server writes it to the socket).
    using progress_sink = std::function<boost::asio::awaitable<void>(std::string_view packet)>;

    async_connection(const Pipeline& p, verdict fallback, hook_limits limits, progress_sink progress)
        : base{p, std::move(fallback), typename base::derived_tag{}}, limits_{limits}, progress_{std::move(progress)} {}

    /// Whether handling `cmd` awaits an asynchronous hook (then call handle_async).
    static bool awaits(const proto::command& cmd) noexcept {
        return base::by_kind(cmd, [](const auto& c) { return base::template awaited_command<std::remove_cvref_t<decltype(c)>>; });
    }

    /// As connection::handle, for a command that awaits nothing.
    proto::result<proto::session_step> handle(const proto::command& cmd, std::string& out) {
        assert(!awaits(cmd));
        return base::handle(cmd, out);
    }

    /// As connection::handle, awaiting asynchronous hooks. PROGRESS packets go to the sink
    /// while an end-of-message hook is awaited; everything else is appended to `out`.
    boost::asio::awaitable<proto::result<proto::session_step>> handle_async(const proto::command& cmd, std::string& out) {
        auto ev = base::begin(cmd, out);
        if (!ev) co_return ev.error();
        if (ev->step == proto::session_step::call_hook) {
            std::string failure;
            try {
                auto ok = co_await base::by_kind(cmd, [&](const auto& c) { return dispatch(c, out); });
                if (!ok) co_return ok.error();
            } catch (const std::exception& e) {
                failure = e.what();
            } catch (...) {
                failure = "an exception not derived from std::exception";
            }
            if (!failure.empty())
                if (auto ok = base::hook_failed(std::move(failure), out); !ok) co_return ok.error();
        }
        co_return ev->step;
    }

private:
    /// connection::dispatch with the hooks awaited; the rules before and after are its own.
    template <class Command>
    boost::asio::awaitable<proto::result<void>> dispatch(const Command& cmd, std::string& out) {
        constexpr auto S = detail::stage_of<Command>();
        if constexpr (!base::template awaited_command<Command>) {
            co_return base::dispatch(cmd, out);
        } else {
            if constexpr (*S == stage::end_of_message) {
                if (!cmd.chunk.empty()) { // a last chunk (§3.7): its verdict is not owed
                    const body_chunk chunk{cmd.chunk};
                    outcome last;
                    if (base::template before_hooks<stage::body>(chunk)) co_await run<stage::body>(chunk, last, out);
                    base::settle_body(last.decision);
                }
            }
            outcome o;
            if (base::template before_hooks<*S>(cmd)) co_await run<*S>(cmd, o, out);
            co_return base::template after_hooks<*S>(o, out);
        }
    }

    /// connection::run, awaiting the asynchronous hooks among them.
    template <stage S, std::size_t I = 0, class Event>
    boost::asio::awaitable<void> run(const Event& event, outcome& o, std::string& out) {
        if constexpr (I < base::template hook_count<S>) {
            using at = typename base::template hook_at<S, I>;
            auto ctx = base::template context_for<S, I>(); // both live in this frame while the hook runs
            auto&& ev = base::template event_for<S, I>(event);
            if constexpr (at::is_blocking) {
                using T = typename detail::awaited<typename at::result>::type;
                if constexpr (std::is_void_v<T>) co_await bounded<S>(call_blocking<S, I>(ev));
                else if (base::template decide<S>(co_await bounded<S>(call_blocking<S, I>(ev)), o, out))
                    co_return;
            } else if constexpr (at::is_async) {
                using T = typename detail::awaited<typename at::result>::type;
                if constexpr (std::is_void_v<T>) co_await bounded<S>(base::template call_hook<S, I>(ev, ctx));
                else if (base::template decide<S>(co_await bounded<S>(base::template call_hook<S, I>(ev, ctx)), o, out))
                    co_return;
            } else if constexpr (std::is_void_v<typename at::result>) {
                base::template call_hook<S, I>(ev, ctx);
            } else if (base::template decide<S>(base::template call_hook<S, I>(ev, ctx), o, out)) {
                co_return;
            }
            co_await run<S, I + 1>(event, o, out);
        }
    }

    /// Runs blocking hook I of stage S on the pool, on copies of its event, its part's state and
    /// the macros; the state comes back only if the call finished while the connection waited.
    template <stage S, std::size_t I, class Event>
    boost::asio::awaitable<typename detail::awaited<typename base::template hook_at<S, I>::result>::type>
    call_blocking(const Event& event) {
        using at = typename base::template hook_at<S, I>;
        using T = typename detail::awaited<typename at::result>::type;
        using context_type = typename at::context_type;
        using fn_type = typename detail::callee<std::remove_cvref_t<decltype(at::element_type::fn)>>::type;
        auto& state = hana::at(this->states_, typename at::part_index{});
        using connection_state = typename context_type::connection_type;
        using message_state = typename context_type::message_type;
        struct copies {
            copies(const Event& e, const connection_state& c, const message_state& m, const proto::macro_table& t)
                : event{e}, connection{c}, message{m}, macros{t} {}
            detail::owned_event<std::remove_cvref_t<Event>> event;
            connection_state connection;
            message_state message;
            proto::macro_table macros;
        };
        // Shared by the job (pool thread) and this frame, which reads the state back once the
        // job has ended.
        auto data = std::make_shared<copies>(event, state.connection, state.message, this->session_.macros());
        const auto& hook = hana::at(hana::at(this->pipeline_.parts, typename at::part_index{}).elements,
                                    typename at::element_index{});
        auto job = [data, fn = fn_type{hook.fn.fn}]() -> T {
            context_type ctx{data->connection, data->message, data->macros};
            return detail::call<S>(fn, data->event.get(), ctx);
        };
        blocking_pool& pool = limits_.blocking ? *limits_.blocking : *default_blocking_pool();
        if constexpr (std::is_void_v<T>) {
            co_await run_blocking<T>(pool, std::move(job));
            take_back(state, *data);
        } else {
            T result = co_await run_blocking<T>(pool, std::move(job));
            take_back(state, *data);
            co_return result;
        }
    }
    template <class State, class Copies>
    static void take_back(State& state, Copies& c) {
        state.connection = std::move(c.connection);
        state.message = std::move(c.message);
    }

    /// Awaits a hook for at most the hook timeout; at end of message, sends PROGRESS meanwhile.
    /// A hook that throws ends the wait at once (the `||` operator of awaitable_operators would
    /// wait for the timer instead: it waits for the first *success*).
    template <stage S, class T>
    boost::asio::awaitable<T> bounded(boost::asio::awaitable<T> hook) {
        namespace asio = boost::asio;
        auto ex = co_await asio::this_coro::executor;
        auto results = co_await asio::experimental::make_parallel_group(
                           asio::co_spawn(ex, settled(std::move(hook)), asio::deferred),
                           asio::co_spawn(ex, keep_alive(S == stage::end_of_message), asio::deferred))
                           .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        const auto& order = std::get<0>(results);
        if (order[0] != 0) throw hook_timeout{}; // the hook was cancelled
        if (auto failure = std::get<1>(results)) std::rethrow_exception(failure);
        if constexpr (!std::is_void_v<T>) co_return std::move(*std::get<2>(results));
    }

    /// The hook's result in an optional: co_spawn needs a default-constructible one.
    template <class T>
    static boost::asio::awaitable<std::conditional_t<std::is_void_v<T>, void, std::optional<T>>>
    settled(boost::asio::awaitable<T> hook) {
        co_return co_await std::move(hook);
    }

    /// Returns when the hook timeout has passed; sends PROGRESS every progress interval if
    /// asked (the MTA resets its timer on each, §4.4).
    boost::asio::awaitable<void> keep_alive(bool send_progress) {
        const auto deadline = std::chrono::steady_clock::now() + limits_.timeout;
        boost::asio::steady_timer timer{co_await boost::asio::this_coro::executor};
        std::string packet;
        (void)proto::encode(packet, proto::progress{});
        while (std::chrono::steady_clock::now() < deadline) {
            const auto next_tick = std::chrono::steady_clock::now() + limits_.progress_interval;
            timer.expires_at(send_progress ? std::min(next_tick, deadline) : deadline);
            co_await timer.async_wait(boost::asio::use_awaitable);
            if (send_progress && progress_ && std::chrono::steady_clock::now() < deadline) co_await progress_(packet);
        }
    }

    hook_limits limits_;
    progress_sink progress_;
};

} // namespace cppmilter
