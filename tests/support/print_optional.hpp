// Boost.Test prints the values of a failed check; std::optional has no operator<<.
#pragma once

#include <boost/test/unit_test.hpp>

#include <optional>
#include <ostream>

namespace boost::test_tools::tt_detail {
template <class T>
struct print_log_value<std::optional<T>> {
    void operator()(std::ostream& os, const std::optional<T>& v) {
        if (v) os << *v;
        else os << "(nothing)";
    }
};
template <>
struct print_log_value<std::nullopt_t> {
    void operator()(std::ostream& os, std::nullopt_t) { os << "(nothing)"; }
};
} // namespace boost::test_tools::tt_detail
