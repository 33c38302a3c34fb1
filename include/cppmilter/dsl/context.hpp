// The context a hook receives: its milter's state and the macros the MTA sent.
#pragma once

#include <cppmilter/dsl/macros.hpp>
#include <cppmilter/dsl/stage.hpp>
#include <cppmilter/dsl/state.hpp>
#include <cppmilter/proto/session.hpp>

#include <optional>
#include <string_view>
#include <type_traits>

namespace cppmilter {

namespace detail {
// The checks of ctx.connection() and ctx.message(), in their return types so that they fire
// at the call, before any error about a member missing from no_state (`ctx.message().n`).
template <class C>
struct declared_connection_state {
    static_assert(!std::is_same_v<C, no_state>,
                  "cppmilter: ctx.connection() needs a state: declare "
                  "cm::milter<cm::connection_scoped<T>>(...)");
    using type = C;
};
template <class M>
struct declared_message_state {
    static_assert(!std::is_same_v<M, no_state>,
                  "cppmilter: ctx.message() needs a state: declare cm::milter<cm::message_scoped<T>>(...)");
    using type = M;
};
// Message state starts at MAIL FROM and is reset when a message ends, so a connect, helo or
// close hook would only ever see a fresh one. (An abort hook sees the abandoned message's.)
template <class M, stage S>
struct message_state_at {
    static_assert(S != stage::connect && S != stage::helo,
                  "cppmilter: ctx.message() in a connect or helo hook: there is no message yet (it "
                  "starts at MAIL FROM): keep what later stages need in ctx.connection()");
    static_assert(S != stage::close,
                  "cppmilter: ctx.message() in a close hook: no message is open when the connection "
                  "ends (the last one was reset at its end): read it in on_end_of_message or on_abort");
    using type = typename declared_message_state<M>::type;
};
} // namespace detail

/// Passed to every hook as its last argument (`auto& ctx`). `S` is the hook's stage,
/// `Macros` the macro declarations of its milter.
template <class Connection, class Message, stage S, class... Macros>
class context {
public:
    static constexpr stage current_stage = S;
    using connection_type = Connection; ///< detail::no_state when none was declared
    using message_type = Message;

    context(Connection& connection, Message& message, const proto::macro_table& macros) noexcept
        : connection_{connection}, message_{message}, macros_{macros} {}

    /// The connection_scoped<T> state of this milter.
    template <class C = Connection>
    typename detail::declared_connection_state<C>::type& connection() noexcept {
        return connection_;
    }
    /// The message_scoped<T> state of this milter (fresh for every message).
    template <class M = Message>
    typename detail::message_state_at<M, S>::type& message() noexcept {
        return message_;
    }

    /// Any macro by name, unchecked; nullopt when the MTA sent no value.
    std::optional<std::string_view> macro(std::string_view name) const noexcept { return macros_.find(name); }

    /// Whether `name` was declared (cm::macros) for this stage or an earlier one. (`name` is
    /// unused when the milter declares no macros.)
    static constexpr bool declares([[maybe_unused]] std::string_view name) noexcept {
        return (false || ... || Macros::provides(name, S));
    }

private:
    Connection& connection_;
    Message& message_;
    const proto::macro_table& macros_;
};

/// Reads a declared macro: compiles only if `Name` was declared with cm::macros for the hook's
/// stage or an earlier one. nullopt when the MTA sent no value.
template <fixed_string Name, class Context>
std::optional<std::string_view> macro(const Context& ctx) noexcept {
    static_assert(Context::declares(Name.view()),
                  "cppmilter: this macro is not declared for this stage or an earlier one: add it "
                  "with cm::macros<cm::stage::..., \"name\"> to the milter (or read it unchecked "
                  "with ctx.macro(\"name\"))");
    return ctx.macro(Name.view());
}

} // namespace cppmilter
