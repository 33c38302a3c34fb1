#include <cppmilter/asio/log.hpp>

#include <string>
#include <unistd.h>

namespace cppmilter::asio_server {
namespace {
std::atomic<log_level> threshold{log_level::warning};
}

std::optional<log_level> parse_log_level(std::string_view s) noexcept {
    if (s == "debug") return log_level::debug;
    if (s == "info") return log_level::info;
    if (s == "warning" || s == "warn") return log_level::warning;
    if (s == "error") return log_level::error;
    if (s == "off") return log_level::off;
    return std::nullopt;
}

std::string_view to_string(log_level l) noexcept {
    switch (l) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
    case log_level::off: return "off";
    }
    return "?";
}

void set_log_level(log_level l) noexcept { threshold.store(l, std::memory_order_relaxed); }
log_level current_log_level() noexcept { return threshold.load(std::memory_order_relaxed); }

void log_line(log_level l, std::uint64_t connection, std::string_view message) noexcept {
    if (!log_enabled(l)) return;
    try {
        std::string line = "cppmilter[" + std::to_string(::getpid()) + "]: ";
        line += to_string(l);
        line += ": ";
        if (connection != 0) line += "[#" + std::to_string(connection) + "] ";
        line += message;
        line += '\n';
        ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
        (void)ignored;
    } catch (...) { // logging must never take the server down
    }
}

} // namespace cppmilter::asio_server
