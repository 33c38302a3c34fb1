// Server settings, their defaults, and the command line every milter binary gets from run().
#pragma once

#include <cppmilter/asio/log.hpp>
#include <cppmilter/dsl/body_spool.hpp>
#include <cppmilter/proto/constants.hpp>
#include <cppmilter/settings.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cppmilter::asio_server {

/// What a connection answers when a hook throws or times out.
enum class fallback_verdict { tempfail, reject, accept };
std::string_view to_string(fallback_verdict f) noexcept;

/// Worker threads when --threads is not given: half the hardware threads, at least one. The
/// MTA that feeds a milter runs on the same machine and needs the other half: on 2 cores with a
/// load generator beside it, one thread answers 1.5x the messages two threads do (two steal the
/// generator's core and wake for smaller batches). A milter whose hooks are heavy CPU work
/// (signing) gives itself more with --threads.
unsigned default_threads() noexcept;

/// Every setting of the server; the defaults are the documented ones (docs/server.md).
struct server_options {
    /// Socket specs (inet:PORT@HOST, inet:HOST:PORT, inet6:PORT@HOST, [::1]:PORT, unix:/path,
    /// local:/path, fd:N). Empty: use the sockets systemd passed (LISTEN_FDS), else fail.
    std::vector<std::string> listen;
    unsigned threads = 0;                                          ///< 0: default_threads()
    std::size_t max_connections = 4096;                            ///< more are closed at once, logged
    std::chrono::milliseconds read_timeout = std::chrono::minutes{10}; ///< MTA silent that long: close
    std::chrono::milliseconds write_timeout = std::chrono::minutes{5}; ///< MTA not reading that long: close
    std::chrono::milliseconds hook_timeout = std::chrono::seconds{60}; ///< async hook: then fallback
    unsigned blocking_threads = 16;    ///< threads for cm::blocking hooks (only if the milter has one)
    std::size_t blocking_queue = 256;  ///< blocking calls that may wait for a thread; more: fallback
    std::chrono::milliseconds progress_interval = std::chrono::seconds{10}; ///< PROGRESS while an EOM hook runs
    std::chrono::milliseconds shutdown_timeout = std::chrono::seconds{30};  ///< drain before closing
    std::size_t max_packet = proto::default_max_payload;           ///< largest payload accepted
    std::size_t body_spill_threshold = default_body_spill_threshold; ///< larger bodies go to a temporary file; 0: never
    unsigned socket_mode = 0660;                                   ///< UNIX socket permissions
    log_level level = log_level::warning;
    log_format format = log_format::text;                          ///< --log-format text|json
    std::string log_file;                                          ///< empty: stderr; reopened on SIGHUP
    std::string metrics_listen;                                    ///< empty: no metrics; else a listen spec
    fallback_verdict fallback = fallback_verdict::tempfail;
};

/// Outcome of parsing the command line.
struct command_line {
    enum class action { serve, print_negotiation, print_postfix_config, exit } what = action::serve;
    server_options options;
    int exit_code = 0;       ///< for action::exit: 0 after --help/--version, 64 on a usage error,
                             ///< 78 (EX_CONFIG) on a bad --config file or settings check()
    std::string message;     ///< text to print for action::exit (help, version or the error line)
};

using cppmilter::parse_duration; // cppmilter/settings.hpp

/// Parses `--config FILE` (the same options, one `name = value` per line, # comments; the
/// command line wins over the file), `--listen SPEC` (repeatable), `--threads N`, `--max-connections N`, `--timeout DUR`,
/// `--write-timeout DUR`, `--hook-timeout DUR`, `--blocking-threads N`, `--blocking-queue N`, `--progress-interval DUR`, `--shutdown-timeout DUR`, `--max-packet N`, `--body-spill-threshold BYTES`,
/// `--socket-mode OCTAL`, `--fallback tempfail|reject|accept`, `--log-level LEVEL`,
/// `--log-format text|json`, `--log-file FILE`, `--metrics-listen SPEC`,
/// `--print-negotiation`, `--print-postfix-config`, `--help`, `--version`. DUR is `30`, `30s`, `500ms` or `5m`.
/// Listen specs are checked here (parse_listen_spec). Errors give one line naming the option
/// and exit code 64 (EX_USAGE). With `user`, the milter's own options are parsed too (listed in
/// --help under "milter options") and, when everything parsed, published (user->publish()).
command_line parse_command_line(int argc, const char* const* argv, std::string_view program, std::string_view version,
                                settings_binding* user = nullptr);

} // namespace cppmilter::asio_server
