// One line per significant event, with a connection id, to stderr (journald picks it up) or
// to --log-file; as text or as one JSON object per line (--log-format json).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cppmilter::asio_server {

enum class log_level { debug, info, warning, error, off };
enum class log_format { text, json };

/// "debug", "info", "warning" (or "warn"), "error", "off"; nullopt otherwise.
std::optional<log_level> parse_log_level(std::string_view s) noexcept;
std::string_view to_string(log_level l) noexcept;

/// The process-wide threshold (default: warning, i.e. quiet in normal operation).
void set_log_level(log_level l) noexcept;
log_level current_log_level() noexcept;
inline bool log_enabled(log_level l) noexcept { return l >= current_log_level() && l != log_level::off; }

/// How lines look, set once at start-up (run() does it) before any other thread logs.
/// `program` names the binary in every line. Text lines carry a UTC time stamp, except when
/// stderr is the journal (systemd sets JOURNAL_STREAM), which stamps lines itself: then each
/// line starts with its syslog priority (<3> error ... <7> debug) so journald keeps the level.
void configure_log(std::string program, log_format format);

/// Sends the log to `path` (appended; created 0640) instead of stderr, or reopens it after
/// logrotate moved it (SIGHUP does that). Returns an error text, empty on success.
std::string open_log_file(const std::string& path);

/// One extra key/value of a log line (JSON "fields"; text: `key=value` after the message).
using log_field = std::pair<std::string_view, std::string_view>;

/// Writes one line as one write(2), so lines from several threads never interleave.
/// `event` is a fixed snake_case name (what alerting matches on), `message` the sentence for
/// people. connection 0 means "not about a connection".
///   text: "sender_block[42]: warning: [#7] no data from the MTA ...: closing"
///   json: {"time":"...","level":"warning","program":"sender_block","pid":42,"connection":7,
///          "event":"read_timeout","message":"...","fields":{...}}
void log_event(log_level l, std::uint64_t connection, std::string_view event, std::string_view message,
               std::initializer_list<log_field> fields = {}) noexcept;

/// log_event with the event "message": for a milter's own lines.
inline void log_line(log_level l, std::uint64_t connection, std::string_view message) noexcept {
    log_event(l, connection, "message", message);
}

} // namespace cppmilter::asio_server
