// The Boost.Asio server: one static binary per milter.
//
//     int main(int argc, char** argv) { return cppmilter::run(my_milter, argc, argv); }
#pragma once

#include <cppmilter/asio/detail/metrics.hpp>
#include <cppmilter/asio/detail/socket_deadline.hpp>
#include <cppmilter/asio/log.hpp>
#include <cppmilter/asio/options.hpp>
#include <cppmilter/dsl/async_connection.hpp>
#include <cppmilter/dsl/connection.hpp>
#include <cppmilter/proto/decoder.hpp>
#include <cppmilter/settings.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cppmilter {

namespace asio_server {

namespace asio = boost::asio;
using stream_socket = asio::generic::stream_protocol::socket;
using cppmilter::hook_timeout;

/// Runs one accepted connection to its end. Given to the core by the typed server. `metrics`
/// is the counters of the connection's thread, null without --metrics-listen.
using connection_handler =
    std::function<asio::awaitable<void>(stream_socket, std::uint64_t id, detail::metrics_shard* metrics)>;

/// The part of the server that does not depend on the milter's type: listeners, threads,
/// limits, signals, shutdown. Lives in src/asio/server_core.cpp.
class server_core {
public:
    server_core(server_options options, connection_handler handler);
    ~server_core();
    server_core(const server_core&) = delete;
    server_core& operator=(const server_core&) = delete;

    /// Opens the listeners and starts the worker threads; returns each listener's bound
    /// address ("inet:127.0.0.1:40123", "unix:/run/x.sock"). Throws std::runtime_error with
    /// a one-line reason if a listener cannot be opened.
    std::vector<std::string> start();
    /// Stops accepting, lets open connections finish within the shutdown timeout, then closes
    /// the rest. Safe from any thread; what SIGTERM and SIGINT do.
    void request_stop();
    /// Blocks until the server has stopped; returns the process exit code.
    int wait();
    /// start(), handle SIGTERM/SIGINT (stop) and SIGHUP (calls `on_hangup`, if set), wait().
    int run();
    /// What SIGHUP does under run(): re-read the settings. Runs on the first worker thread
    /// (briefly: a file read); must not throw. Set before run().
    void on_hangup(std::function<void()> reload);

    /// Connections open right now.
    std::size_t active_connections() const noexcept;
    /// Where --metrics-listen listens once started ("inet:127.0.0.1:9100"); empty without it.
    std::string metrics_address() const;
    const server_options& options() const noexcept;

private:
    void wait_for_signal();
    struct impl;
    std::unique_ptr<impl> impl_;
};

namespace detail {

/// Writes all of `bytes` within `timeout`, else cancels the write: asio::error::timed_out.
/// An MTA that stops reading must not hold its connection (and the answers queued for it)
/// until shutdown; the connection's one deadline bounds its writes as it bounds its reads.
inline asio::awaitable<boost::system::error_code> write_within(stream_socket& socket, socket_deadline& deadline,
                                                               std::chrono::milliseconds timeout, std::string_view bytes) {
    deadline.start(timeout);
    auto [ec, written] = co_await asio::async_write(socket, asio::buffer(bytes), asio::as_tuple(asio::use_awaitable));
    (void)written;
    if (deadline.expired()) co_return asio::error::timed_out;
    co_return ec;
}

inline void log_write_failure(std::uint64_t id, const boost::system::error_code& ec) {
    if (ec == asio::error::timed_out)
        log_event(log_level::warning, id, "write_timeout", "the MTA read no answer within the write timeout: closing");
    else
        log_event(log_level::info, id, "write_failed", "write failed: " + ec.message());
}

} // namespace detail

/// Serves one MTA connection: reads packets, runs the pipeline, writes the answers (all the
/// answers to one read in one write), until QUIT, EOF, a protocol error, the read timeout or
/// the write timeout.
template <class Pipeline>
asio::awaitable<void> serve_connection(const Pipeline& pipeline, stream_socket socket, std::uint64_t id,
                                       const server_options& options, detail::metrics_shard* metrics = nullptr,
                                       std::shared_ptr<blocking_pool> blocking = nullptr) {
    const verdict fallback = options.fallback == fallback_verdict::reject   ? verdict{reject}
                             : options.fallback == fallback_verdict::accept ? verdict{next}
                                                                             : verdict{tempfail};
    const detail::socket_deadline::owner deadline{socket};
    boost::system::error_code progress_error; // a PROGRESS write failed: the connection closes
    // Pipelines with asynchronous hooks get the awaiting connection; all others the plain one.
    constexpr bool any_async = Pipeline::any_async();
    using connection_type = std::conditional_t<any_async, async_connection<Pipeline>, connection<Pipeline>>;
    connection_type conn = [&] {
        if constexpr (any_async)
            return connection_type{pipeline, fallback, hook_limits{options.hook_timeout, options.progress_interval, std::move(blocking)},
                                   [&](std::string_view packet) -> asio::awaitable<void> {
                                       auto ec = co_await detail::write_within(socket, *deadline, options.write_timeout, packet);
                                       if (ec) {
                                           progress_error = ec;
                                           throw boost::system::system_error{ec}; // ends the hook's wait
                                       }
                                   }};
        else
            return connection_type{pipeline, fallback};
    }();
    proto::command_decoder decoder{options.max_packet};
    std::string out;
    // Reads start small (an idle connection holds 1 KiB) and grow while they fill the
    // buffer (bodies), up to 64 KiB.
    constexpr std::size_t initial_read_size = 1024;
    std::size_t read_size = initial_read_size;
    constexpr std::size_t max_read_size = 64 * 1024;
    log_event(log_level::debug, id, "connected", "connected");

    for (;;) {
        deadline->start(options.read_timeout);
        auto room = decoder.prepare(read_size);
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(room.data(), room.size()),
                                                       asio::as_tuple(asio::use_awaitable));
        if (deadline->expired()) {
            if (metrics) metrics->read_timeouts.add();
            log_event(log_level::warning, id, "read_timeout", "no data from the MTA within the read timeout: closing");
            break;
        }
        if (ec) {
            if (!decoder.at_packet_boundary() || conn.session().phase() == proto::session_phase::in_message)
                log_event(log_level::info, id, "closed_mid_message", "the MTA closed the connection in the middle of " +
                                                  std::string{conn.session().phase() == proto::session_phase::in_message
                                                                  ? "a message" : "a packet"});
            conn.on_disconnect();
            co_return;
        }
        if (n == room.size() && read_size < max_read_size) read_size *= 2;
        decoder.commit(n);
        bool done = false;
        while (auto cmd = decoder.next()) {
            if (!*cmd) {
                if (metrics) metrics->malformed_input.add();
                log_event(log_level::warning, id, "malformed_input", "closing on malformed input: " + cmd->error().message());
                done = true;
                break;
            }
            proto::result<proto::session_step> step = proto::session_step::none;
            const char code = metrics ? static_cast<char>(proto::kind_of(cmd->value())) : '\0';
            const std::size_t answered_from = out.size();
            // Timed: the commands the MTA may wait on (not macros, which are never answered).
            const bool timed = metrics && code != static_cast<char>(proto::command_kind::macro);
            const auto started = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
            if constexpr (any_async) {
                if (conn.awaits(cmd->value())) step = co_await conn.handle_async(cmd->value(), out);
                else step = conn.handle(cmd->value(), out);
                if (progress_error) {
                    (void)conn.take_hook_error(); // the hook was abandoned for the write, not its own fault
                    break;
                }
            } else {
                step = conn.handle(cmd->value(), out);
            }
            if (metrics) {
                metrics->command(code);
                if (out.size() != answered_from) { // answered: how long the MTA waited
                    if (timed) metrics->observe(code, std::chrono::steady_clock::now() - started);
                    metrics->answers(code, std::string_view{out}.substr(answered_from));
                }
            }
            if (auto failure = conn.take_hook_error(); !failure.empty()) {
                if (metrics) {
                    metrics->hook_failures.add();
                    if (failure == hook_timeout{}.what()) metrics->hook_timeouts.add();
                }
                log_event(log_level::error, id, "hook_failed", "a hook failed, answered " + std::string{to_string(options.fallback)} + ": " + failure);
            }
            if (!step) {
                if (metrics) (code == 'O' ? metrics->negotiation_failures : metrics->protocol_errors).add();
                log_event(log_level::warning, id, "protocol_error", "closing on a protocol error: " + step.error().message());
                done = true;
                break;
            }
            if (*step == proto::session_step::close) {
                done = true;
                break;
            }
        }
        if (progress_error) {
            if (metrics && progress_error == asio::error::timed_out) metrics->write_timeouts.add();
            detail::log_write_failure(id, progress_error);
            break;
        }
        if (!out.empty()) {
            const auto write_error = co_await detail::write_within(socket, *deadline, options.write_timeout, out);
            out.clear();
            if (write_error) {
                if (metrics && write_error == asio::error::timed_out) metrics->write_timeouts.add();
                detail::log_write_failure(id, write_error);
                break;
            }
        }
        if (done) break;
        // Between messages, a buffer that grew for a body goes back: thousands of idle
        // connections must not each keep the largest read they ever did.
        if (read_size > initial_read_size && decoder.at_packet_boundary() &&
            conn.session().phase() != proto::session_phase::in_message) {
            decoder.release_if_larger(initial_read_size);
            read_size = initial_read_size;
        }
    }
    if (conn.session().phase() != proto::session_phase::closed) conn.on_disconnect();
    boost::system::error_code ignored;
    socket.shutdown(stream_socket::shutdown_both, ignored);
    socket.close(ignored);
    log_event(log_level::debug, id, "closed", "closed");
}

/// A milter served over the network: the typed front of server_core.
template <class Pipeline>
class server {
public:
    server(const Pipeline& pipeline, server_options options)
        : pipeline_{pipeline}, core_{options, [this](stream_socket s, std::uint64_t id, detail::metrics_shard* metrics) {
                                          return serve_connection(pipeline_, std::move(s), id, core_.options(), metrics, blocking_);
                                      }} {
        // Its threads are started only for a milter that has a blocking hook.
        if constexpr (Pipeline::any_blocking())
            blocking_ = std::make_shared<blocking_pool>(options.blocking_threads, options.blocking_queue);
    }

    std::vector<std::string> start() { return core_.start(); }
    void request_stop() { core_.request_stop(); }
    int wait() { return core_.wait(); }
    int run() { return core_.run(); }
    void on_hangup(std::function<void()> reload) { core_.on_hangup(std::move(reload)); }
    std::size_t active_connections() const noexcept { return core_.active_connections(); }
    std::string metrics_address() const { return core_.metrics_address(); }

private:
    const Pipeline& pipeline_;
    std::shared_ptr<blocking_pool> blocking_; // declared before core_: connections use it
    server_core core_;
};

/// Prints the negotiation a pipeline derives, readably (for --print-negotiation).
void print_negotiation(std::ostream& os, const negotiation& n);

/// Prints the main.cf lines Postfix needs for a milter with negotiation `n` run with `options`
/// (for --print-postfix-config): smtpd_milters from --listen, milter_protocol, timeouts above
/// --hook-timeout, and the macros it asks for.
void print_postfix_config(std::ostream& os, std::string_view program, const negotiation& n, const server_options& options);

} // namespace asio_server

namespace asio_server::detail {

inline std::string_view program_name(int argc, char** argv) {
    std::string_view program = argc > 0 ? argv[0] : "milter";
    if (auto slash = program.rfind('/'); slash != std::string_view::npos) program.remove_prefix(slash + 1);
    return program;
}

/// run() with or without the milter's own settings.
template <class Pipeline>
int run(const Pipeline& pipeline, int argc, char** argv, std::string_view version, settings_binding* user) {
    const std::string_view program = program_name(argc, argv);
    auto cli = parse_command_line(argc, argv, program, version, user);
    if (cli.what == command_line::action::exit) {
        (cli.exit_code == 0 ? std::cout : std::cerr) << cli.message << '\n';
        return cli.exit_code;
    }
    if (cli.what == command_line::action::print_negotiation) {
        print_negotiation(std::cout, Pipeline::negotiation);
        return 0;
    }
    if (cli.what == command_line::action::print_postfix_config) {
        print_postfix_config(std::cout, program, Pipeline::negotiation, cli.options);
        return 0;
    }
    set_log_level(cli.options.level);
    set_body_spill_threshold(cli.options.body_spill_threshold);
    configure_log(std::string{program}, cli.options.format);
    if (!cli.options.log_file.empty()) {
        if (auto failed = open_log_file(cli.options.log_file); !failed.empty()) {
            std::cerr << program << ": --log-file " << failed << '\n';
            return 73; // EX_CANTCREAT
        }
    }
    // Said at start, not at the first large message: a TMPDIR that does not exist.
    if constexpr (Pipeline::eom_buffering() >= 2)
        if (cli.options.body_spill_threshold != 0)
            if (auto problem = body_spill_problem(); !problem.empty())
                log_event(log_level::warning, 0, "body_spill_unavailable",
                          problem + "; a body above --body-spill-threshold will be answered with --fallback");
    try {
        server<Pipeline> s{pipeline, cli.options};
        s.on_hangup([=, log_file = cli.options.log_file] {
            if (!log_file.empty()) {
                if (auto failed = open_log_file(log_file); !failed.empty())
                    log_event(log_level::error, 0, "log_reopen_failed", "SIGHUP: cannot reopen the log file, it stays as it was: " + failed);
            }
            if (!user) return log_event(log_level::info, 0, "hangup", "SIGHUP: log reopened; this milter has no settings to reload");
            // The same command line and --config file again; server settings (sockets,
            // threads) stay as they are until a restart.
            auto again = parse_command_line(argc, argv, program, version, user);
            if (again.what == command_line::action::exit && again.exit_code != 0)
                log_event(log_level::error, 0, "reload_failed",
                          "SIGHUP: the settings were not reloaded, the previous ones stay: " + again.message);
            else
                log_event(log_level::info, 0, "reloaded", "SIGHUP: settings reloaded");
        });
        return s.run();
    } catch (const std::exception& e) {
        std::cerr << program << ": " << e.what() << '\n';
        return 1;
    }
}

} // namespace asio_server::detail

/// Everything a milter binary needs: parses the command line (--help lists it), then serves
/// until SIGTERM/SIGINT. Returns the process exit code (64 on a usage error).
template <class Pipeline>
int run(const Pipeline& pipeline, int argc, char** argv, std::string_view version = "0.1.0") {
    return asio_server::detail::run(pipeline, argc, argv, version, nullptr);
}

/// The same, with the milter's own settings: parsed from the command line and --config FILE
/// before serving (78 if check() refuses them), re-read on SIGHUP. A reload that fails is
/// logged and the previous value stays.
template <class Pipeline, class Settings>
int run(const Pipeline& pipeline, int argc, char** argv, settings<Settings>& user, std::string_view version = "0.1.0") {
    return asio_server::detail::run(pipeline, argc, argv, version, &user);
}

} // namespace cppmilter
