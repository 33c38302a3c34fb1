// One line per significant event, with a connection id, to stderr (journald picks it up).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace cppmilter::asio_server {

enum class log_level { debug, info, warning, error, off };

/// "debug", "info", "warning" (or "warn"), "error", "off"; nullopt otherwise.
std::optional<log_level> parse_log_level(std::string_view s) noexcept;
std::string_view to_string(log_level l) noexcept;

/// The process-wide threshold (default: warning, i.e. quiet in normal operation).
void set_log_level(log_level l) noexcept;
log_level current_log_level() noexcept;
inline bool log_enabled(log_level l) noexcept { return l >= current_log_level() && l != log_level::off; }

/// Writes "cppmilter[<pid>]: <level>: [#<connection>] <message>" as one write(2), so lines
/// from several threads never interleave. connection 0 means "not about a connection".
void log_line(log_level l, std::uint64_t connection, std::string_view message) noexcept;

} // namespace cppmilter::asio_server
