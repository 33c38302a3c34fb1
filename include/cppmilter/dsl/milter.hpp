// A milter as a value whose type lists its stages; its negotiation derived at compile time.
#pragma once

#include <cppmilter/dsl/context.hpp>
#include <cppmilter/dsl/hooks.hpp>
#include <cppmilter/dsl/macros.hpp>
#include <cppmilter/dsl/state.hpp>
#include <cppmilter/dsl/verdict.hpp>
#include <cppmilter/proto/session.hpp>

#include <boost/hana/at.hpp>
#include <boost/hana/concat.hpp>
#include <boost/hana/count_if.hpp>
#include <boost/hana/filter.hpp>
#include <boost/hana/fold_left.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/transform.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>
#include <boost/hana/unpack.hpp>

#include <array>
#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>

namespace cppmilter {

namespace hana = boost::hana;

/// Everything the MTA is told about a pipeline, derived from its type. A constant expression:
/// `static_assert(policy.negotiation.protocol.has(proto::protocol::no_helo));`
struct negotiation {
    proto::action_set actions;     ///< exactly the SMFIF_* bits the end-of-message results need
    proto::protocol_set protocol;  ///< NO* for absent stages, NR* for void ones, SKIP if used
    proto::symbol_lists macros{};  ///< the declared macro lists per stage

    /// The request handed to the protocol core's negotiation.
    constexpr proto::negotiation_request request() const noexcept { return {actions, protocol, macros}; }
    friend constexpr bool operator==(const negotiation&, const negotiation&) = default;
};

namespace detail {

/// The stages that have an MTA command and may be switched off or left unanswered.
inline constexpr stage command_stages[] = {stage::connect, stage::helo, stage::mail_from,
                                           stage::rcpt,    stage::data, stage::header,
                                           stage::end_of_headers, stage::body, stage::unknown};

/// The macro declarations among a milter's elements, in order. (A plain metafunction: with a
/// lambda in an unevaluated operand here, GCC 12 silently skipped the static_asserts of
/// check_part and clang 14 crashed.)
template <class List, class... Elements>
struct macros_of {
    using type = List;
};
template <class... Found, class First, class... Rest>
struct macros_of<type_list<Found...>, First, Rest...>
    : macros_of<std::conditional_t<is_macros<First>::value, type_list<Found..., First>, type_list<Found...>>,
                Rest...> {};

/// context<Connection, Message, S, Macros...> from a type_list of macro declarations.
template <class Connection, class Message, stage S, class MacroList>
struct context_for;
template <class Connection, class Message, stage S, class... Macros>
struct context_for<Connection, Message, S, type_list<Macros...>> {
    using type = context<Connection, Message, S, Macros...>;
};

/// One milter: its state types and its elements (hooks and macro declarations).
template <class States, class... Elements>
struct part {
    using states = States;
    using connection_state = typename States::connection_type;
    using message_state = typename States::message_type;
    hana::tuple<Elements...> elements;

    static constexpr auto element_types = hana::tuple_t<Elements...>;
    static constexpr auto hook_types = hana::filter(element_types, [](auto t) {
        return hana::bool_c<is_hook<typename decltype(t)::type>::value>;
    });
    static constexpr auto macro_types = hana::filter(element_types, [](auto t) {
        return hana::bool_c<is_macros<typename decltype(t)::type>::value>;
    });

    /// The context type a hook of stage S of this part receives.
    template <stage S>
    using context_type = typename context_for<connection_state, message_state, S,
                                              typename macros_of<type_list<>, Elements...>::type>::type;

    static constexpr std::size_t hooks_at(stage s) {
        return hana::fold_left(hook_types, std::size_t{0}, [s](std::size_t n, auto t) {
            return n + (decltype(t)::type::at == s ? 1 : 0);
        });
    }
};

template <class T>
struct is_part : std::false_type {};
template <class States, class... E>
struct is_part<part<States, E...>> : std::true_type {};

template <class E>
constexpr bool check_element() {
    static_assert(is_hook<E>::value || is_macros<E>::value,
                  "cppmilter: a milter is made of stage hooks (cm::on_mail_from(f), ...) and macro "
                  "declarations (cm::macros<stage, \"name\"...>{})");
    return true;
}

} // namespace detail

namespace detail {

/// The compile-time derivation of a pipeline's negotiation from its parts' types.
template <class... Parts>
struct derivation {
    static constexpr auto part_types = hana::tuple_t<Parts...>;

    /// Number of hooks of stage `s` over all parts.
    static constexpr std::size_t hooks_at(stage s) { return (std::size_t{0} + ... + Parts::hooks_at(s)); }

    /// Whether every hook of stage `s` can only continue: it returns void or cm::next_t (so
    /// the answer is always CONTINUE, and the MTA need not wait for it).
    static constexpr bool only_continue_at(stage s) {
        return hana::fold_left(part_types, true, [s](bool ok, auto pt) {
            using P = typename decltype(pt)::type;
            return hana::fold_left(P::hook_types, ok, [=](bool ok2, auto ht) {
                using H = typename decltype(ht)::type;
                return ok2 && (H::at != s || result_only_continues<P, H>());
            });
        });
    }

    /// Whether a hook of stage `s` returns an awaitable (only the Asio server runs those).
    static constexpr bool async_at(stage s) {
        return hana::fold_left(part_types, false, [s](bool any, auto pt) {
            using P = typename decltype(pt)::type;
            return hana::fold_left(P::hook_types, any, [=](bool any2, auto ht) {
                using H = typename decltype(ht)::type;
                using C = typename P::template context_type<H::at>;
                return any2 || (H::at == s && awaited<std::remove_cvref_t<typename hook_result<H::at, decltype(H::fn), C>::type>>::is_async);
            });
        });
    }

    /// Whether any hook is declared cm::blocking (it then needs a blocking pool).
    static constexpr bool any_blocking() {
        return hana::fold_left(part_types, false, [](bool any, auto pt) {
            using P = typename decltype(pt)::type;
            return hana::fold_left(P::hook_types, any, [](bool any2, auto ht) {
                return any2 || is_blocking_hook<std::remove_cvref_t<decltype(decltype(ht)::type::fn)>>::value;
            });
        });
    }

    /// Whether a body hook can answer skip.
    static constexpr bool can_skip() {
        return hana::fold_left(part_types, false, [](bool any, auto pt) {
            using P = typename decltype(pt)::type;
            return hana::fold_left(P::hook_types, any, [=](bool any2, auto ht) {
                using H = typename decltype(ht)::type;
                if constexpr (H::at == stage::body) return any2 || std::is_same_v<result_of<P, H>, body_verdict> ||
                                                          std::is_same_v<result_of<P, H>, skip_t>;
                else return any2;
            });
        });
    }

    /// What end-of-message hooks want buffered: 1 = headers, 2 = headers and body.
    static constexpr int eom_buffering() {
        return hana::fold_left(part_types, 0, [](int level, auto pt) {
            using P = typename decltype(pt)::type;
            return hana::fold_left(P::hook_types, level, [=](int l, auto ht) {
                using H = typename decltype(ht)::type;
                if constexpr (H::at == stage::end_of_message) {
                    using E = eom_event_of<P, H>;
                    int want = std::is_same_v<E, whole_message> ? 2 : std::is_same_v<E, message_headers> ? 1 : 0;
                    if constexpr (is_editable<E>::value) want = E::template declares<edit::body> ? 2 : 1;
                    return l > want ? l : want;
                } else {
                    return l;
                }
            });
        });
    }

    /// Whether `check(hana::type_c<E>)` holds for the event type E of any end-of-message hook.
    template <class Check>
    static constexpr bool any_eom_event(Check check) {
        return hana::fold_left(part_types, false, [=](bool any, auto pt) {
            using P = typename decltype(pt)::type;
            return hana::fold_left(P::hook_types, any, [=](bool any2, auto ht) {
                using H = typename decltype(ht)::type;
                if constexpr (H::at == stage::end_of_message) return any2 || check(hana::type_c<eom_event_of<P, H>>);
                else return any2;
            });
        });
    }

    /// Whether an end-of-message hook takes the editable message: its edits are diffed into
    /// modifications.
    static constexpr bool eom_editing() {
        return any_eom_event([](auto e) { return is_editable<typename decltype(e)::type>::value; });
    }

    /// Whether an editable hook keeps the envelope (declares recipients or sender): then
    /// MAIL and RCPT stay subscribed and their addresses are kept.
    static constexpr bool eom_envelope() {
        return any_eom_event([](auto e) {
            using E = typename decltype(e)::type;
            if constexpr (is_editable<E>::value) return E::keeps_envelope;
            else return false;
        });
    }

    static constexpr proto::action_set derived_actions() {
        return hana::fold_left(part_types, proto::action_set{}, [](proto::action_set a, auto pt) {
            using P = typename decltype(pt)::type;
            return hana::fold_left(P::hook_types, a, [=](proto::action_set a2, auto ht) {
                using H = typename decltype(ht)::type;
                if constexpr (H::at == stage::end_of_message) {
                    using R = result_of<P, H>;
                    using E = eom_event_of<P, H>;
                    proto::action_set edits{};
                    if constexpr (is_editable<E>::value) edits = E::actions;
                    if constexpr (is_eom<R>::value) return a2 | edits | R::actions;
                    else if constexpr (is_modification<R>::value) return a2 | edits | proto::action_set{R::needs};
                    else return a2 | edits;
                } else {
                    return a2;
                }
            });
        });
    }

    static constexpr proto::protocol_set derived_protocol() {
        proto::protocol_set p;
        for (stage s : command_stages) {
            const auto t = traits_of(s);
            const bool buffered = (s == stage::header && eom_buffering() >= 1) || (s == stage::body && eom_buffering() >= 2) ||
                                  ((s == stage::mail_from || s == stage::rcpt) && eom_envelope());
            if (hooks_at(s) == 0 && !buffered) p |= t.no_bit | t.no_reply_bit; // NR too, if NO is ignored
            else if (only_continue_at(s)) p |= t.no_reply_bit;
        }
        // A skipped body would arrive incomplete at an end-of-message hook that reads it all.
        if (can_skip() && eom_buffering() < 2) p |= proto::protocol::skip;
        return p;
    }

    /// The declared macro names of every part, joined per OPTNEG macro stage.
    struct macro_lists {
        static constexpr std::size_t capacity = [] {
            std::size_t n = 1;
            hana::for_each(part_types, [&](auto pt) {
                hana::for_each(decltype(pt)::type::macro_types, [&](auto mt) {
                    for (auto name : decltype(mt)::type::names) n += name.size() + 1;
                });
            });
            return n;
        }();
        struct joined {
            char text[capacity]{};
            std::size_t size = 0;
            bool used = false;
        };
        static constexpr std::array<joined, proto::macro_stage_count> lists = [] {
            std::array<joined, proto::macro_stage_count> out{};
            hana::for_each(part_types, [&](auto pt) {
                hana::for_each(decltype(pt)::type::macro_types, [&](auto mt) {
                    using M = typename decltype(mt)::type;
                    auto& j = out[static_cast<std::size_t>(*traits_of(M::at).macro_list)];
                    for (auto name : M::names) {
                        bool seen = false; // a name declared twice (or by two parts) is asked once
                        for (std::size_t at = 0; at < j.size;) {
                            std::size_t end = at;
                            while (end < j.size && j.text[end] != ' ') ++end;
                            if (std::string_view{j.text + at, end - at} == name) seen = true;
                            at = end + 1;
                        }
                        if (seen) continue;
                        if (j.size > 0) j.text[j.size++] = ' ';
                        for (char c : name) j.text[j.size++] = c;
                        j.used = true;
                    }
                });
            });
            return out;
        }();
    };

    static constexpr proto::symbol_lists derived_macros() {
        proto::symbol_lists out{};
        for (std::size_t i = 0; i < proto::macro_stage_count; ++i)
            if (macro_lists::lists[i].used)
                out[i] = std::string_view{macro_lists::lists[i].text, macro_lists::lists[i].size};
        return out;
    }

    static constexpr cppmilter::negotiation negotiation() {
        return {derived_actions(), derived_protocol(), derived_macros()};
    }

    template <class P, class H>
    using result_of = hook_decision_t<H::at, decltype(H::fn), typename P::template context_type<H::at>>;
    template <class P, class H>
    using eom_event_of = typename eom_event<decltype(H::fn), typename P::template context_type<stage::end_of_message>>::type;

    template <class P, class H>
    static constexpr bool result_only_continues() {
        using R = result_of<P, H>;
        return std::is_void_v<R> || std::is_same_v<R, next_t>;
    }
};


} // namespace detail

/// A pipeline of milters, run as one: negotiation is the union of their needs, the first
/// verdict that is not `next` wins, end-of-message modifications are concatenated in order.
template <class... Parts>
class pipeline_t {
    static_assert((detail::is_part<Parts>::value && ...));
    using derived = detail::derivation<Parts...>;

public:
    hana::tuple<Parts...> parts;

    constexpr explicit pipeline_t(hana::tuple<Parts...> p) : parts{std::move(p)} {}

    static constexpr auto part_types = hana::tuple_t<Parts...>;
    /// What end-of-message hooks want kept: 0 nothing, 1 headers, 2 headers and body.
    static constexpr int eom_buffering() { return derived::eom_buffering(); }
    /// Whether an end-of-message hook edits the message (cm::editable<...>&).
    static constexpr bool eom_editing() { return derived::eom_editing(); }
    /// Whether an editable hook keeps the envelope (cm::edit::recipients or cm::edit::sender).
    static constexpr bool eom_envelope() { return derived::eom_envelope(); }
    /// Whether any hook of stage `s` is asynchronous.
    static constexpr bool async_at(stage s) { return derived::async_at(s); }
    /// Whether any hook is asynchronous (then it runs on cm::async_connection).
    static constexpr bool any_async() {
        for (int s = 0; s <= static_cast<int>(stage::close); ++s)
            if (derived::async_at(static_cast<stage>(s))) return true;
        return false;
    }
    /// Whether any hook is declared cm::blocking: it runs on a blocking pool.
    static constexpr bool any_blocking() { return derived::any_blocking(); }
    /// Everything the MTA is told, as a constant expression.
    static constexpr cppmilter::negotiation negotiation = derived::negotiation();
};

namespace detail {

template <class Part>
constexpr bool check_part() {
    hana::for_each(Part::hook_types, [](auto ht) {
        using H = typename decltype(ht)::type;
        static_assert(check_hook<H::at, decltype(H::fn), typename Part::template context_type<H::at>>());
    });
    constexpr std::size_t most = [] {
        std::size_t m = 0;
        for (int s = 0; s <= static_cast<int>(stage::close); ++s)
            m = std::max(m, Part::hooks_at(static_cast<stage>(s)));
        return m;
    }();
    static_assert(most <= 1,
                  "cppmilter: a stage is given twice in one milter: merge the two hooks into one, or "
                  "put them in two milters composed with cm::pipeline(a, b)");
    return true;
}

} // namespace detail

/// Declares a milter: state types as template arguments, hooks and macro declarations as
/// arguments, one line per stage:
///
///     constexpr auto m = cm::milter<cm::message_scoped<counts>>(
///         cm::macros<cm::stage::mail_from, "{auth_authen}">{},
///         cm::on_rcpt([](const cm::rcpt&, auto& ctx) { ++ctx.message().rcpts; }));
template <class... States, class... Elements>
constexpr auto milter(Elements... elements) {
    static_assert((detail::check_element<Elements>() && ...));
    using part_type = detail::part<detail::state_list<States...>, Elements...>;
    static_assert(detail::check_part<part_type>());
    return pipeline_t<part_type>{hana::make_tuple(part_type{hana::make_tuple(std::move(elements)...)})};
}

/// Runs several milters as one (see pipeline_t); each keeps its own state.
template <class... Pipelines>
constexpr auto pipeline(Pipelines... pipelines) {
    auto parts = hana::fold_left(hana::make_tuple(std::move(pipelines.parts)...), hana::make_tuple(),
                                 [](auto acc, auto p) { return hana::concat(std::move(acc), std::move(p)); });
    return hana::unpack(std::move(parts), [](auto... p) {
        return pipeline_t<decltype(p)...>{hana::make_tuple(std::move(p)...)};
    });
}

} // namespace cppmilter
