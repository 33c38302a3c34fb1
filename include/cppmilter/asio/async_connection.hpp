// A connection whose hooks may return boost::asio::awaitable<...>: run on the connection's
// executor, bounded by the hook timeout, with PROGRESS sent while end of message waits.
#pragma once

#include <cppmilter/asio/options.hpp>
#include <cppmilter/dsl/connection.hpp>
#include <cppmilter/proto/encoder.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <stdexcept>

namespace cppmilter::asio_server {

/// Thrown (and answered with the fallback verdict) when an asynchronous hook overruns.
struct hook_timeout : std::runtime_error {
    hook_timeout() : std::runtime_error{"an asynchronous hook did not finish within --hook-timeout"} {}
};

namespace detail {

/// The commands whose stage a hook may handle, and that stage.
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

} // namespace detail

template <class Pipeline>
class async_connection : public connection<Pipeline> {
    using base = connection<Pipeline>;
    using socket_type = boost::asio::generic::stream_protocol::socket;

public:
    async_connection(const Pipeline& p, verdict fallback, const server_options& options, socket_type& socket)
        : base{p, std::move(fallback)}, options_{options}, socket_{socket} {}

    /// As connection::handle, awaiting asynchronous hooks. PROGRESS packets go straight to the
    /// socket while an end-of-message hook is awaited; everything else is appended to `out`.
    boost::asio::awaitable<proto::result<proto::session_step>> handle(const proto::command& cmd, std::string& out) {
        auto ev = base::begin(cmd, out);
        if (!ev) co_return ev.error();
        if (ev->step == proto::session_step::call_hook) {
            std::string failure;
            try {
                auto ok = co_await std::visit([&](const auto& c) { return dispatch(c, out); }, cmd);
                if (!ok) co_return ok.error();
            } catch (const std::exception& e) {
                failure = e.what();
            } catch (...) {
                failure = "an exception not derived from std::exception";
            }
            if (!failure.empty()) {
                base::hook_error_ = std::move(failure);
                if (auto ok = base::recover(out); !ok) co_return ok.error();
            }
        }
        co_return ev->step;
    }

private:
    template <class Command>
    boost::asio::awaitable<proto::result<void>> dispatch(const Command& cmd, std::string& out) {
        constexpr auto s = detail::stage_of<Command>();
        if constexpr (!s || !Pipeline::async_at(*s)) {
            co_return base::dispatch(cmd, out); // no asynchronous hook here: the synchronous path
        } else if constexpr (*s == stage::end_of_message) {
            if (!cmd.chunk.empty()) { // a last body chunk (§3.7)
                if constexpr (Pipeline::async_at(stage::body)) {
                    verdict ignored = next;
                    if (base::body_wanted(cmd.chunk)) co_await run<stage::body>(body_chunk{cmd.chunk}, ignored);
                } else {
                    (void)base::body(cmd.chunk);
                }
            }
            verdict decision = next;
            proto::result<void> status;
            co_await run<stage::end_of_message>(base::no_buffer_, decision, &status, &out);
            base::reset_message();
            if (!status) co_return status;
            co_return base::answer(decision, out);
        } else {
            verdict decision = next;
            if constexpr (*s == stage::connect) base::reset_connection();
            if constexpr (*s == stage::mail_from) base::reset_message();
            if constexpr (*s == stage::header && base::buffering >= 1) base::keep_header(cmd);
            if constexpr (*s == stage::body) {
                if (base::body_wanted(cmd.chunk)) co_await run<stage::body>(body_chunk{cmd.chunk}, decision);
                decision = base::after_body(std::move(decision));
            } else {
                co_await run<*s>(cmd, decision);
            }
            co_return base::answer(decision, out);
        }
    }

    /// The hooks of stage S as (part index, element index) pairs, in pipeline order.
    template <stage S>
    static constexpr auto hooks_at() {
        return hana::fold_left(base::part_indices, hana::make_tuple(), [](auto acc, auto pi) {
            using P = typename decltype(+hana::at(Pipeline::part_types, pi))::type;
            auto elements = hana::make_range(hana::size_c<0>, hana::length(P::element_types));
            auto here = hana::filter(hana::to_tuple(elements), [=](auto ei) {
                using E = typename decltype(+hana::at(P::element_types, ei))::type;
                if constexpr (cppmilter::detail::is_hook<E>::value) return hana::bool_c<E::at == S>;
                else return hana::false_c;
            });
            return hana::concat(acc, hana::transform(here, [pi](auto ei) { return hana::make_pair(pi, ei); }));
        });
    }

    /// Runs hook I of stage S and the ones after it, until one decides.
    template <stage S, std::size_t I = 0, class Event>
    boost::asio::awaitable<void> run(const Event& event, verdict& decision, proto::result<void>* status = nullptr,
                                     std::string* out = nullptr) {
        constexpr auto hooks = hooks_at<S>();
        if constexpr (I < decltype(hana::length(hooks))::value) {
            using pair = decltype(hana::at_c<I>(hooks));
            using part_index = std::remove_cvref_t<decltype(hana::first(std::declval<pair>()))>;
            using element_index = std::remove_cvref_t<decltype(hana::second(std::declval<pair>()))>;
            auto& part = hana::at(base::pipeline_.parts, part_index{});
            auto& state = hana::at(base::states_, part_index{});
            const auto& element = hana::at(part.elements, element_index{});
            using part_type = std::remove_cvref_t<decltype(part)>;
            using E = std::remove_cvref_t<decltype(element)>;
            using Ctx = typename part_type::template context_type<S>;
            using R = std::remove_cvref_t<typename cppmilter::detail::hook_result<S, decltype(E::fn), Ctx>::type>;
            Ctx ctx{state.connection, state.message, base::session_.macros()};

            verdict v = next;
            if constexpr (cppmilter::detail::awaited<R>::is_async) {
                using T = typename cppmilter::detail::awaited<R>::type;
                if constexpr (std::is_void_v<T>) co_await bounded<S>(invoke<S, Ctx>(element.fn, event, ctx));
                else decide<S>(co_await bounded<S>(invoke<S, Ctx>(element.fn, event, ctx)), v, status, out);
            } else if constexpr (std::is_void_v<R>) {
                invoke<S, Ctx>(element.fn, event, ctx);
            } else {
                decide<S>(invoke<S, Ctx>(element.fn, event, ctx), v, status, out);
            }
            if (!v.is_next()) {
                decision = std::move(v);
                co_return;
            }
            co_await run<S, I + 1>(event, decision, status, out);
        }
    }

    /// Calls a hook with its stage's event (at end of message: the one it asked for).
    template <stage S, class Ctx, class F, class Event>
    decltype(auto) invoke(const F& fn, const Event& event, Ctx& ctx) {
        if constexpr (S == stage::end_of_message) {
            using Ev = typename cppmilter::detail::eom_event<F, Ctx>::type;
            return cppmilter::detail::call<S>(fn, base::template eom_event_for<Ev>(), ctx);
        } else {
            return cppmilter::detail::call<S>(fn, event, ctx);
        }
    }

    /// Turns what a hook returned into `v` (and, at end of message, modifications in `out`).
    template <stage S, class T>
    void decide(T&& result, verdict& v, proto::result<void>* status, std::string* out) {
        if constexpr (S == stage::end_of_message) base::apply_eom_result(std::forward<T>(result), v, *status, *out);
        else v = body_verdict{std::forward<T>(result)};
    }

    /// Awaits a hook for at most the hook timeout; at end of message, sends PROGRESS meanwhile.
    template <stage S, class T>
    boost::asio::awaitable<T> bounded(boost::asio::awaitable<T> hook) {
        using namespace boost::asio::experimental::awaitable_operators;
        auto outcome = co_await (std::move(hook) || keep_alive(S == stage::end_of_message));
        if (outcome.index() == 1) throw hook_timeout{};
        if constexpr (!std::is_void_v<T>) co_return std::get<0>(std::move(outcome));
    }

    /// Returns when the hook timeout has passed; sends PROGRESS every progress interval if
    /// asked (the MTA resets its timer on each, §4.4).
    boost::asio::awaitable<void> keep_alive(bool send_progress) {
        const auto deadline = std::chrono::steady_clock::now() + options_.hook_timeout;
        boost::asio::steady_timer timer{co_await boost::asio::this_coro::executor};
        std::string packet;
        (void)proto::encode(packet, proto::progress{});
        while (std::chrono::steady_clock::now() < deadline) {
            const auto next_tick = std::chrono::steady_clock::now() + options_.progress_interval;
            timer.expires_at(send_progress ? std::min(next_tick, deadline) : deadline);
            co_await timer.async_wait(boost::asio::use_awaitable);
            if (send_progress && std::chrono::steady_clock::now() < deadline)
                co_await boost::asio::async_write(socket_, boost::asio::buffer(packet), boost::asio::use_awaitable);
        }
    }

    const server_options& options_;
    socket_type& socket_;
};

} // namespace cppmilter::asio_server
