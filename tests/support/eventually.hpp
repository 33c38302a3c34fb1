// Waiting in tests for what another thread or process will do, bounded.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace cppmilter::test {

/// Polls `done` every 5 ms until it holds (true) or `limit` has passed (false).
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds{10}) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    return true;
}

} // namespace cppmilter::test
