// Typed per-connection and per-message state.
#pragma once

#include <type_traits>

namespace cppmilter {

/// State that lives from CONNECT to the end of the connection: ctx.connection().
template <class T>
struct connection_scoped {
    static_assert(std::is_default_constructible_v<T>,
                  "cppmilter: a connection_scoped<T> state type must be default-constructible: "
                  "it is created fresh for every connection");
    using type = T;
};

/// State that lives for one message: fresh at every MAIL, after ABORT and after end of
/// message, so messages on one connection never see each other's state: ctx.message().
template <class T>
struct message_scoped {
    static_assert(std::is_default_constructible_v<T>,
                  "cppmilter: a message_scoped<T> state type must be default-constructible: it is "
                  "created fresh for every message");
    using type = T;
};

namespace detail {

/// Stands for "this milter declared no such state".
struct no_state {};

template <class T>
struct is_connection_scoped : std::false_type {};
template <class T>
struct is_connection_scoped<connection_scoped<T>> : std::true_type {};
template <class T>
struct is_message_scoped : std::false_type {};
template <class T>
struct is_message_scoped<message_scoped<T>> : std::true_type {};

template <template <class> class Is, class... States>
struct find_state {
    using type = no_state;
};
template <template <class> class Is, class First, class... Rest>
struct find_state<Is, First, Rest...> {
    using type = std::conditional_t<Is<First>::value, typename First::type, typename find_state<Is, Rest...>::type>;
};

/// The state types of one milter, from its template arguments.
template <class... States>
struct state_list {
    static_assert(((is_connection_scoped<States>::value || is_message_scoped<States>::value) && ...),
                  "cppmilter: cm::milter<...> takes only cm::connection_scoped<T> and "
                  "cm::message_scoped<T> as template arguments");
    static_assert((0 + ... + int{is_connection_scoped<States>::value}) <= 1,
                  "cppmilter: a milter has at most one connection_scoped<T> state (use one struct)");
    static_assert((0 + ... + int{is_message_scoped<States>::value}) <= 1,
                  "cppmilter: a milter has at most one message_scoped<T> state (use one struct)");
    using connection_type = typename find_state<is_connection_scoped, States...>::type;
    using message_type = typename find_state<is_message_scoped, States...>::type;
};

} // namespace detail
} // namespace cppmilter
