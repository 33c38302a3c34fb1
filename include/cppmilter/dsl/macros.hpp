// Macros a milter asks the MTA for, declared per stage with names checked at compile time.
#pragma once

#include <cppmilter/dsl/stage.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string_view>

namespace cppmilter {

/// A string usable as a template argument: cm::macros<cm::stage::mail_from, "{auth_authen}">.
template <std::size_t N>
struct fixed_string {
    char data[N]{};
    constexpr fixed_string(const char (&s)[N]) noexcept { std::copy_n(s, N, data); } // NOLINT: implicit
    constexpr std::string_view view() const noexcept { return {data, N - 1}; }
};

namespace detail {
/// `x` and `{x}` name the same macro (as in libmilter).
constexpr std::string_view bare_macro_name(std::string_view n) noexcept {
    return n.size() >= 2 && n.front() == '{' && n.back() == '}' ? n.substr(1, n.size() - 2) : n;
}
} // namespace detail

/// Declares the macros a milter needs at stage `S`. The MTA is asked to send exactly these
/// for that stage's macro list (replacing its configured list for this connection), and
/// cm::macro<"name">(ctx) compiles only in hooks of `S` or a later stage.
template <stage S, fixed_string... Names>
struct macros {
    static_assert(sizeof...(Names) > 0, "cppmilter: cm::macros<stage, ...> needs at least one macro name");
    static_assert(detail::traits_of(S).macro_list.has_value(),
                  "cppmilter: the MTA sends no macros for this stage (unknown, abort and close have none)");
    static constexpr stage at = S;
    static constexpr std::array<std::string_view, sizeof...(Names)> names{Names.view()...};

    /// Whether `name` is declared here and usable at stage `use`.
    static constexpr bool provides(std::string_view name, stage use) noexcept {
        if (detail::traits_of(S).macro_order > detail::traits_of(use).macro_order) return false;
        return std::any_of(names.begin(), names.end(), [&](std::string_view n) {
            return detail::bare_macro_name(n) == detail::bare_macro_name(name);
        });
    }
};

namespace detail {
template <class T>
struct is_macros : std::false_type {};
template <stage S, fixed_string... Names>
struct is_macros<macros<S, Names...>> : std::true_type {};
} // namespace detail

} // namespace cppmilter
