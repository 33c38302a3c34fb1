#include <cppmilter/asio/log.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cppmilter::asio_server {
namespace {
std::atomic<log_level> threshold{log_level::warning};

// Written once by configure_log() before the server's threads start; read-only afterwards.
struct log_setup {
    std::string program = "cppmilter";
    log_format format = log_format::text;
    bool journal = false; // stderr is journald's stream: no time stamps, <N> priorities
} setup;

/// systemd sets JOURNAL_STREAM=DEV:INODE of the stream it connected to stderr.
bool stderr_is_journal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (!stream) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
    struct stat st {};
    return ::fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

int syslog_priority(log_level l) {
    switch (l) {
    case log_level::error: return 3;
    case log_level::warning: return 4;
    case log_level::info: return 6;
    default: return 7;
    }
}

std::string utc_now() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    ::gmtime_r(&seconds, &tm);
    char text[64]; // room for any int the format could print
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return text;
}

/// A JSON string literal (RFC 8259 escapes; bytes that are not UTF-8 pass through, as the
/// rest of the line is the log reader's to judge).
void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char escaped[8];
                std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
                out += escaped;
            } else {
                out += c;
            }
        }
    }
    out += '"';
}
} // namespace

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

void configure_log(std::string program, log_format format) {
    setup.program = std::move(program);
    setup.format = format;
    setup.journal = stderr_is_journal();
}

std::string open_log_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return path + ": " + std::strerror(errno);
    // Over stderr: every line (and anything else written there) goes to the file; a writer
    // in the middle of a line finishes it in the old file.
    const bool moved = ::dup2(fd, STDERR_FILENO) >= 0;
    const int saved = errno;
    ::close(fd);
    if (!moved) return path + ": " + std::strerror(saved);
    setup.journal = false;
    return {};
}

void log_event(log_level l, std::uint64_t connection, std::string_view event, std::string_view message,
               std::initializer_list<log_field> fields) noexcept {
    if (!log_enabled(l)) return;
    try {
        std::string line;
        if (setup.format == log_format::json) {
            line = "{\"time\":\"" + utc_now() + "\",\"level\":\"";
            line += to_string(l);
            line += "\",\"program\":";
            append_json_string(line, setup.program);
            line += ",\"pid\":" + std::to_string(::getpid()) + ",\"connection\":";
            line += connection != 0 ? std::to_string(connection) : "null";
            line += ",\"event\":";
            append_json_string(line, event);
            line += ",\"message\":";
            append_json_string(line, message);
            line += ",\"fields\":{";
            bool first = true;
            for (const auto& [key, value] : fields) {
                if (!first) line += ',';
                first = false;
                append_json_string(line, key);
                line += ':';
                append_json_string(line, value);
            }
            line += "}}\n";
        } else {
            if (setup.journal) line = "<" + std::to_string(syslog_priority(l)) + ">";
            else line = utc_now() + " ";
            line += setup.program + "[" + std::to_string(::getpid()) + "]: ";
            line += to_string(l);
            line += ": ";
            if (connection != 0) line += "[#" + std::to_string(connection) + "] ";
            line += message;
            for (const auto& [key, value] : fields) {
                line += ' ';
                line += key;
                line += '=';
                line += value;
            }
            line += '\n';
        }
        ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
        (void)ignored;
    } catch (...) { // logging must never take the server down
    }
}

} // namespace cppmilter::asio_server
