// Hooks that block their thread (a library doing DNS, a file on NFS): cm::blocking(f) runs f on
// a bounded pool of threads of its own (dsl/blocking_pool.hpp), awaited like an asynchronous
// hook, so the I/O thread goes on serving its other connections meanwhile.
#pragma once

#include <type_traits>
#include <utility>

namespace cppmilter {

/// A hook declared blocking: `cm::on_mail_from(cm::blocking([](const cm::mail_from& m) -> cm::verdict { ... }))`.
/// The function is an ordinary synchronous hook; it runs on the blocking pool (--blocking-threads),
/// bounded by --hook-timeout. It works on copies of its event, its milter's state and the macros:
/// the state it changed is taken back when it finishes in time, and dropped when it overran (the
/// connection has gone on with the fallback answer by then).
template <class F>
struct blocking_hook {
    F fn;
};

/// Declares a hook as blocking (see blocking_hook).
template <class F>
constexpr blocking_hook<F> blocking(F f) {
    return {std::move(f)};
}

namespace detail {

template <class F>
struct is_blocking_hook : std::false_type {};
template <class F>
struct is_blocking_hook<blocking_hook<F>> : std::true_type {};

/// The function a hook calls in the end: a blocking hook's inner function, else the hook.
template <class F>
struct callee {
    using type = F;
};
template <class F>
struct callee<blocking_hook<F>> {
    using type = F;
};

/// What calling a blocking hook gives before it is awaited: its function's result, later.
template <class T>
struct blocking_result {
    using type = T;
};

} // namespace detail

} // namespace cppmilter
