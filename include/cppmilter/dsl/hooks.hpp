// Stage descriptors: on_connect(f), on_mail_from(f), ... and the compile-time checks of hooks.
#pragma once

#include <cppmilter/dsl/blocking.hpp>
#include <cppmilter/dsl/editable.hpp>
#include <cppmilter/dsl/message.hpp>
#include <cppmilter/dsl/modifications.hpp>
#include <cppmilter/dsl/stage.hpp>
#include <cppmilter/dsl/verdict.hpp>

#include <concepts>
#include <type_traits>
#include <utility>

// Recognised without including Asio: a hook may return boost::asio::awaitable<verdict>.
namespace boost::asio {
template <typename T, typename Executor>
class awaitable;
} // namespace boost::asio

namespace cppmilter {

/// A hook bound to its stage.
template <stage S, class F>
struct hook {
    static constexpr stage at = S;
    F fn;
};

template <class F> constexpr hook<stage::connect, F> on_connect(F f) { return {std::move(f)}; }
template <class F> constexpr hook<stage::helo, F> on_helo(F f) { return {std::move(f)}; }
template <class F> constexpr hook<stage::mail_from, F> on_mail_from(F f) { return {std::move(f)}; }
template <class F> constexpr hook<stage::rcpt, F> on_rcpt(F f) { return {std::move(f)}; }
template <class F> constexpr hook<stage::data, F> on_data(F f) { return {std::move(f)}; }
template <class F> constexpr hook<stage::header, F> on_header(F f) { return {std::move(f)}; }
template <class F> constexpr hook<stage::end_of_headers, F> on_end_of_headers(F f) { return {std::move(f)}; }
template <class F> constexpr hook<stage::body, F> on_body(F f) { return {std::move(f)}; }
template <class F> constexpr hook<stage::end_of_message, F> on_end_of_message(F f) { return {std::move(f)}; }
template <class F> constexpr hook<stage::unknown, F> on_unknown(F f) { return {std::move(f)}; }
template <class F> constexpr hook<stage::abort, F> on_abort(F f) { return {std::move(f)}; }
template <class F> constexpr hook<stage::close, F> on_close(F f) { return {std::move(f)}; }

namespace detail {

template <class T>
struct is_hook : std::false_type {};
template <stage S, class F>
struct is_hook<hook<S, F>> : std::true_type {};

template <stage S>
struct event_of;
template <> struct event_of<stage::connect> { using type = connect_info; };
template <> struct event_of<stage::helo> { using type = helo_info; };
template <> struct event_of<stage::mail_from> { using type = mail_from; };
template <> struct event_of<stage::rcpt> { using type = rcpt; };
template <> struct event_of<stage::data> { using type = data_info; };
template <> struct event_of<stage::header> { using type = header; };
template <> struct event_of<stage::end_of_headers> { using type = end_of_headers_info; };
template <> struct event_of<stage::body> { using type = body_chunk; };
template <> struct event_of<stage::unknown> { using type = unknown_command; };
template <> struct event_of<stage::abort> { using type = abort_info; };
template <> struct event_of<stage::close> { using type = close_info; };
// end_of_message: one of end_of_message, message_headers, whole_message (see eom_event).

template <class... T>
struct type_list {
    static constexpr std::size_t size = sizeof...(T);
};

/// Parameter and return types of a callable with one non-template call operator (or a
/// function). Generic lambdas have none: they are checked by calling them instead.
template <class T>
struct signature_of {
    static constexpr bool known = false;
};
template <class R, class... A>
struct signature_of<R(A...)> {
    static constexpr bool known = true;
    using result = R;
    using params = type_list<A...>;
};
template <class R, class... A> struct signature_of<R(A...) noexcept> : signature_of<R(A...)> {};
template <class R, class... A> struct signature_of<R (*)(A...)> : signature_of<R(A...)> {};
template <class R, class... A> struct signature_of<R (*)(A...) noexcept> : signature_of<R(A...)> {};
template <class C, class R, class... A> struct signature_of<R (C::*)(A...)> : signature_of<R(A...)> {};
template <class C, class R, class... A> struct signature_of<R (C::*)(A...) const> : signature_of<R(A...)> {};
template <class C, class R, class... A> struct signature_of<R (C::*)(A...) noexcept> : signature_of<R(A...)> {};
template <class C, class R, class... A> struct signature_of<R (C::*)(A...) const noexcept> : signature_of<R(A...)> {};

/// The signature of a hook called with context type Ctx: known for functions, function
/// objects and lambdas whose only `auto` parameter is the context; unknown for lambdas whose
/// event parameter is `auto` too (those are checked by calling them).
template <class F, class Ctx>
struct callable_signature : signature_of<F> {};
template <class F, class Ctx>
    requires requires { &F::operator(); }
struct callable_signature<F, Ctx> : signature_of<decltype(&F::operator())> {};
template <class F, class Ctx>
    requires(!requires { &F::operator(); } && requires { &F::template operator()<Ctx>; })
struct callable_signature<F, Ctx> : signature_of<decltype(&F::template operator()<Ctx>)> {};

template <std::size_t I, class List>
struct nth;
template <std::size_t I, class First, class... Rest>
struct nth<I, type_list<First, Rest...>> : nth<I - 1, type_list<Rest...>> {};
template <class First, class... Rest>
struct nth<0, type_list<First, Rest...>> {
    using type = First;
};

/// Which end-of-message event a hook takes: the one its first parameter names. A generic
/// parameter (`auto const&`) gets whole_message, the one that can answer everything.
template <class F, class Ctx>
struct eom_event {
    using sig = callable_signature<F, Ctx>;
    template <class E>
    static constexpr bool takes() {
        if constexpr (sig::known) {
            if constexpr (sig::params::size >= 1)
                return std::is_same_v<std::remove_cvref_t<typename nth<0, typename sig::params>::type>, E>;
            else
                return false;
        } else {
            return std::is_same_v<E, whole_message>;
        }
    }
    template <bool Known = sig::known>
    static auto first_parameter() {
        if constexpr (Known && sig::params::size >= 1) return std::type_identity<std::remove_cvref_t<typename nth<0, typename sig::params>::type>>{};
        else return std::type_identity<void>{};
    }
    using first = typename decltype(first_parameter())::type;
    using type = std::conditional_t<
        is_editable<first>::value, first,
        std::conditional_t<takes<message_headers>(), message_headers,
                           std::conditional_t<takes<whole_message>(), whole_message, end_of_message>>>;
};

/// A blocking hook takes what its function takes.
template <class F, class Ctx>
struct eom_event<blocking_hook<F>, Ctx> : eom_event<F, Ctx> {};

/// How a hook receives its event: by const reference, but the editable message by reference
/// (the hook changes it).
template <class E>
using event_ref = std::conditional_t<is_editable<E>::value, E&, const E&>;

template <stage S, class F, class Ctx>
struct hook_event {
    using type = typename event_of<S>::type;
};
template <class F, class Ctx>
struct hook_event<stage::end_of_message, F, Ctx> {
    using type = typename eom_event<F, Ctx>::type;
};

/// How a hook is called: f(event, ctx), f(event), f(ctx) or f().
enum class call_shape { none, event_and_context, event_only, context_only, nothing };

template <stage S, class F, class Ctx>
constexpr call_shape plain_shape_of();

template <stage S, class F, class Ctx>
constexpr call_shape shape_of() {
    if constexpr (is_blocking_hook<F>::value) return shape_of<S, typename callee<F>::type, Ctx>();
    else return plain_shape_of<S, F, Ctx>();
}

template <stage S, class F, class Ctx>
constexpr call_shape plain_shape_of() {
    using E = typename hook_event<S, F, Ctx>::type;
    using sig = callable_signature<F, Ctx>;
    // With a known signature, decide from the parameters: probing a generic `auto& ctx` with
    // the event would instantiate the hook's body with the wrong argument.
    if constexpr (sig::known) {
        if constexpr (sig::params::size == 1) {
            using P0 = typename nth<0, typename sig::params>::type;
            // Nested, not &&: both operands of && would be instantiated.
            if constexpr (std::is_convertible_v<event_ref<E>, P0>) {
                return call_shape::event_only;
            } else if constexpr (std::is_convertible_v<Ctx&, P0>) {
                return call_shape::context_only;
            } else {
                return call_shape::none;
            }
        } else if constexpr (sig::params::size == 2) {
            return std::is_invocable_v<const F&, event_ref<E>, Ctx&> ? call_shape::event_and_context : call_shape::none;
        } else if constexpr (sig::params::size == 0) {
            return call_shape::nothing;
        } else {
            return call_shape::none;
        }
    } else if constexpr (std::is_invocable_v<const F&, event_ref<E>, Ctx&>) return call_shape::event_and_context;
    else if constexpr (std::is_invocable_v<const F&, event_ref<E>>) return call_shape::event_only;
    else if constexpr (std::is_invocable_v<const F&, Ctx&>) return call_shape::context_only;
    else if constexpr (std::is_invocable_v<const F&>) return call_shape::nothing;
    else return call_shape::none;
}

template <class T>
struct awaited {
    using type = T;
    static constexpr bool is_async = false;
    static constexpr bool is_blocking = false;
};
template <class T, class E>
struct awaited<boost::asio::awaitable<T, E>> {
    using type = T;
    static constexpr bool is_async = true;
    static constexpr bool is_blocking = false;
};
/// A blocking hook is awaited too (on the blocking pool).
template <class T>
struct awaited<blocking_result<T>> {
    using type = T;
    static constexpr bool is_async = true;
    static constexpr bool is_blocking = true;
};

template <class R>
inline constexpr bool is_plain_verdict =
    std::is_convertible_v<R, verdict> && !std::is_same_v<R, skip_t> && !is_modification<R>::value;

/// What calling a hook's function returns, for each way it can be called.
template <stage S, class F, class Ctx, call_shape Shape = shape_of<S, F, Ctx>()>
struct plain_hook_result {
    using type = void;
};
template <stage S, class F, class Ctx>
struct plain_hook_result<S, F, Ctx, call_shape::event_and_context> {
    using type = std::invoke_result_t<const F&, event_ref<typename hook_event<S, F, Ctx>::type>, Ctx&>;
};
template <stage S, class F, class Ctx>
struct plain_hook_result<S, F, Ctx, call_shape::event_only> {
    using type = std::invoke_result_t<const F&, event_ref<typename hook_event<S, F, Ctx>::type>>;
};
template <stage S, class F, class Ctx>
struct plain_hook_result<S, F, Ctx, call_shape::context_only> {
    using type = std::invoke_result_t<const F&, Ctx&>;
};
template <stage S, class F, class Ctx>
struct plain_hook_result<S, F, Ctx, call_shape::nothing> {
    using type = std::invoke_result_t<const F&>;
};
/// What calling a hook returns: a blocking hook's result comes later (blocking_result).
template <stage S, class F, class Ctx>
struct hook_result : plain_hook_result<S, F, Ctx> {};
template <stage S, class F, class Ctx>
struct hook_result<S, blocking_hook<F>, Ctx> {
    using type = blocking_result<std::remove_cvref_t<typename plain_hook_result<S, F, Ctx>::type>>;
};

/// The result with an awaitable unwrapped: what the hook finally decides.
template <stage S, class F, class Ctx>
using hook_decision_t = typename awaited<std::remove_cvref_t<typename hook_result<S, F, Ctx>::type>>::type;

/// Checks everything about one hook once its context type is known, with one readable
/// message per mistake.
template <stage S, class F, class Ctx>
constexpr bool check_plain_hook() {
    using E = typename hook_event<S, F, Ctx>::type;
    using sig = callable_signature<F, Ctx>;
    // Compile a generic hook's body now, for the context it will get, even when its return
    // type is declared: the checks inside it (cm::macro<"name">(ctx), ctx.message()) then fire
    // where the milter is defined, not only where it is run.
    if constexpr (requires { &F::template operator()<Ctx>; }) {
        [[maybe_unused]] constexpr auto body = &F::template operator()<Ctx>;
    }
    if constexpr (sig::known) {
        using P = typename sig::params;
        static_assert(P::size <= 2,
                      "cppmilter: a hook takes (event const&, auto& ctx), (event const&), (auto& ctx) or nothing");
        if constexpr (P::size >= 1) {
            using P0 = typename nth<0, P>::type;
            constexpr bool event_ok = std::is_convertible_v<event_ref<E>, P0>;
            constexpr bool ctx_ok = std::is_convertible_v<Ctx&, P0>;
            static_assert(event_ok || ctx_ok || S != stage::connect,
                          "cppmilter: the first parameter of an on_connect hook must be cm::connect_info const&");
            static_assert(event_ok || ctx_ok || S != stage::helo,
                          "cppmilter: the first parameter of an on_helo hook must be cm::helo_info const&");
            static_assert(event_ok || ctx_ok || S != stage::mail_from,
                          "cppmilter: the first parameter of an on_mail_from hook must be cm::mail_from const&");
            static_assert(event_ok || ctx_ok || S != stage::rcpt,
                          "cppmilter: the first parameter of an on_rcpt hook must be cm::rcpt const&");
            static_assert(event_ok || ctx_ok || S != stage::data,
                          "cppmilter: the first parameter of an on_data hook must be cm::data_info const&");
            static_assert(event_ok || ctx_ok || S != stage::header,
                          "cppmilter: the first parameter of an on_header hook must be cm::header const&");
            static_assert(event_ok || ctx_ok || S != stage::end_of_headers,
                          "cppmilter: the first parameter of an on_end_of_headers hook must be "
                          "cm::end_of_headers_info const&");
            static_assert(event_ok || ctx_ok || S != stage::body,
                          "cppmilter: the first parameter of an on_body hook must be cm::body_chunk const&");
            static_assert(event_ok || ctx_ok || S != stage::end_of_message,
                          "cppmilter: the first parameter of an on_end_of_message hook must be "
                          "cm::end_of_message, cm::message_headers or cm::whole_message const&, or cm::editable<...>&");
            static_assert(event_ok || ctx_ok || S != stage::unknown,
                          "cppmilter: the first parameter of an on_unknown hook must be cm::unknown_command const&");
            static_assert(event_ok || ctx_ok || S != stage::abort,
                          "cppmilter: the first parameter of an on_abort hook must be cm::abort_info const& or the context");
            static_assert(event_ok || ctx_ok || S != stage::close,
                          "cppmilter: the first parameter of an on_close hook must be cm::close_info const& or the context");
        }
        if constexpr (P::size == 2) {
            static_assert(std::is_convertible_v<Ctx&, typename nth<1, P>::type>,
                          "cppmilter: the second parameter of a hook must be the context: write `auto& ctx`");
        }
    }
    constexpr call_shape shape = shape_of<S, F, Ctx>();
    static_assert(shape != call_shape::none,
                  "cppmilter: this hook cannot be called with its stage's event and context: it "
                  "should look like [](cm::<event> const&, auto& ctx) { ... }");
    if constexpr (shape != call_shape::none) {
        using R = hook_decision_t<S, F, Ctx>;
        if constexpr (S == stage::abort || S == stage::close) {
            static_assert(std::is_void_v<R>, "cppmilter: abort and close hooks cannot answer the MTA: return void");
            static_assert(!awaited<std::remove_cvref_t<typename hook_result<S, F, Ctx>::type>>::is_async,
                          "cppmilter: abort and close hooks run synchronously (nothing waits for them): "
                          "return void, not an awaitable");
        } else if constexpr (S == stage::end_of_message) {
            static_assert(std::is_void_v<R> || is_plain_verdict<R> || is_eom<R>::value || is_modification<R>::value,
                          "cppmilter: an end-of-message hook returns void, a verdict or cm::eom<modifications...>");
        } else {
            static_assert(!is_eom<R>::value && !is_modification<R>::value,
                          "cppmilter: a modification can only be returned at end of message: use "
                          "on_end_of_message and return cm::eom<...> listing this modification");
            static_assert(S == stage::body || !(std::is_same_v<R, skip_t> || std::is_same_v<R, body_verdict>),
                          "cppmilter: skip can only be returned by a body hook (on_body)");
            static_assert(std::is_void_v<R> || std::is_convertible_v<R, body_verdict>,
                          "cppmilter: a hook returns void (observe only), a verdict (cm::next, cm::reject, "
                          "cm::reply(...), ...) or an awaitable of one");
            // Only a result type that can hold nothing but discard tells at compile time; a
            // cm::verdict holding discard here is refused at run time (the fallback answers).
            static_assert(!(S == stage::connect || S == stage::helo) || !std::is_same_v<R, discard_t>,
                          "cppmilter: discard needs a message, and at CONNECT and HELO there is none yet: "
                          "return cm::reject or cm::tempfail (refuses the client), or discard from "
                          "on_mail_from or a later stage");
        }
    }
    return true;
}

/// Checks a hook: a blocking one as its function, and what running it on a copy needs.
template <stage S, class F, class Ctx>
constexpr bool check_hook() {
    if constexpr (is_blocking_hook<F>::value) {
        using G = typename callee<F>::type;
        static_assert(S != stage::abort && S != stage::close,
                      "cppmilter: abort and close hooks cannot be cm::blocking: nothing waits for them, "
                      "so they would still block the connection's thread; hand the work to a thread of your own");
        if constexpr (S != stage::abort && S != stage::close) {
            static_assert(check_plain_hook<S, G, Ctx>());
            static_assert(!awaited<std::remove_cvref_t<typename plain_hook_result<S, G, Ctx>::type>>::is_async,
                          "cppmilter: cm::blocking wraps a synchronous function: a hook returning an awaitable "
                          "is asynchronous already, drop cm::blocking");
            static_assert(!is_editable<typename hook_event<S, G, Ctx>::type>::value,
                          "cppmilter: a blocking end-of-message hook cannot take the editable message (it runs "
                          "on a copy, on another thread): take cm::whole_message and return cm::eom<...>");
            static_assert(std::is_copy_constructible_v<typename Ctx::connection_type> &&
                              std::is_copy_constructible_v<typename Ctx::message_type>,
                          "cppmilter: a blocking hook works on a copy of its milter's state (taken back when it "
                          "finishes in time): make the connection_scoped and message_scoped types copyable");
            static_assert(std::is_copy_constructible_v<G>,
                          "cppmilter: the function given to cm::blocking must be copyable (each call runs a copy)");
        }
        return true;
    } else {
        return check_plain_hook<S, F, Ctx>();
    }
}

} // namespace detail
} // namespace cppmilter
