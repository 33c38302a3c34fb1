// Failure text of a protocol result, safe to use in a Boost.Test message (which is built
// even when the assertion holds).
#pragma once

#include <cppmilter/proto/error.hpp>

#include <string>

namespace cppmilter::test {

template <class T>
std::string why(const proto::result<T>& r) {
    return r.has_value() ? std::string{"ok"} : r.error().message();
}

} // namespace cppmilter::test
