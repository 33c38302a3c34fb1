// The Boost.Asio server: one static binary per milter.
//
//     int main(int argc, char** argv) { return cppmilter::run(my_milter, argc, argv); }
#pragma once

#include <cppmilter/asio/detail/metrics.hpp>
#include <cppmilter/asio/detail/parked_connections.hpp>
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
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <cerrno>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace cppmilter {

namespace asio_server {

namespace asio = boost::asio;
using stream_socket = asio::generic::stream_protocol::socket;
using cppmilter::hook_timeout;

/// Counts an accepted connection as open (the server's drain waits for it) until destroyed.
class connection_slot {
public:
    struct owner {
        virtual void release_connection() noexcept = 0;

    protected:
        ~owner() = default;
    };
    explicit connection_slot(owner* o) noexcept : owner_{o} {}
    connection_slot(connection_slot&& other) noexcept : owner_{std::exchange(other.owner_, nullptr)} {}
    connection_slot& operator=(connection_slot&&) = delete;
    ~connection_slot() {
        if (owner_ != nullptr) owner_->release_connection();
    }

private:
    owner* owner_;
};

/// Starts serving one accepted connection; called on the thread that runs the socket's
/// io_context. Given to the core by the typed server. `metrics` is the counters of the
/// connection's thread, null without --metrics-listen.
using connection_handler =
    std::function<void(stream_socket, std::uint64_t id, detail::metrics_shard* metrics, connection_slot)>;

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

/// One MTA connection: reads what the socket has, runs the pipeline, writes all the answers to
/// one read in one write, until QUIT, EOF, a protocol error, the read timeout or the write
/// timeout. Between commands it is *parked*: no coroutine frame, no read buffer, no timer and
/// nothing of Asio's; only its registration in the thread's epoll set (parked_connections),
/// so thousands of idle connections cost little more than their state.
///
/// The socket is a plain descriptor: reads and writes are tried at once (non-blocking); a
/// write the MTA does not take at once waits through a short-lived Asio socket on a copy of
/// the descriptor, bounded by the write timeout.
///
/// Owned by a std::unique_ptr that moves from the parked list to the code that serves the
/// next bytes and back; destroying it closes the connection and frees its slot.
template <class Pipeline>
class connection_runner final : parked_connections::entry {
    static constexpr bool any_async = Pipeline::any_async();
    // Pipelines with asynchronous hooks get the awaiting connection; all others the plain one.
    using connection_type = std::conditional_t<any_async, async_connection<Pipeline>, connection<Pipeline>>;
    using self = std::unique_ptr<connection_runner>;
    // Reads start at 1 KiB and grow while they fill the buffer (bodies), up to 64 KiB.
    static constexpr std::size_t initial_read_size = 1024;
    static constexpr std::size_t max_read_size = 64 * 1024;

public:
    /// Serves `socket` on the calling thread, which runs its io_context.
    static void start(const Pipeline& pipeline, stream_socket socket, std::uint64_t id, const server_options& options,
                      metrics_shard* metrics, std::shared_ptr<blocking_pool> blocking, connection_slot slot) {
        auto& context = static_cast<asio::io_context&>(asio::query(socket.get_executor(), asio::execution::context));
        boost::system::error_code ec;
        // The descriptor leaves Asio's reactor: the thread's own epoll set watches it.
        const int fd = socket.release(ec);
        if (ec) {
            log_event(log_level::error, id, "socket_failed", "cannot take the accepted socket: " + ec.message());
            return;
        }
        self c{new connection_runner{pipeline, fd, parked_connections::of(context), id, options, metrics, std::move(blocking),
                                     std::move(slot)}};
        log_event(log_level::debug, id, "connected", "connected");
        int on = 1;
        if (::ioctl(fd, FIONBIO, &on) != 0) ec = {errno, boost::system::system_category()};
        else ec = c->parked_.add(*c);
        if (ec) {
            log_event(log_level::error, id, "socket_failed", "cannot watch the socket: " + ec.message());
            return c->close();
        }
        serve(std::move(c));
    }

    connection_runner(const connection_runner&) = delete;
    connection_runner& operator=(const connection_runner&) = delete;
    ~connection_runner() {
        if (fd >= 0) close_descriptor();
    }

private:
    connection_runner(const Pipeline& pipeline, int descriptor, parked_connections& parked, std::uint64_t id,
                      const server_options& options, metrics_shard* metrics, std::shared_ptr<blocking_pool> blocking,
                      connection_slot slot)
        : entry{&on_wake}, parked_{parked}, conn_{make_connection(pipeline, options, std::move(blocking))},
          decoder_{options.max_packet}, id_{id}, options_{options}, metrics_{metrics}, slot_{std::move(slot)} {
        fd = descriptor;
    }

    connection_type make_connection(const Pipeline& pipeline, const server_options& options, std::shared_ptr<blocking_pool> blocking) {
        const verdict fallback = options.fallback == fallback_verdict::reject   ? verdict{cppmilter::reject}
                                 : options.fallback == fallback_verdict::accept ? verdict{cppmilter::next}
                                                                                 : verdict{cppmilter::tempfail};
        if constexpr (any_async)
            return connection_type{pipeline, fallback, hook_limits{options.hook_timeout, options.progress_interval, std::move(blocking)},
                                   [this](std::string_view packet) -> asio::awaitable<void> {
                                       // A PROGRESS packet while an end-of-message hook is awaited.
                                       if (auto ec = co_await write_all(packet)) {
                                           progress_error_ = ec;
                                           throw boost::system::system_error{ec}; // ends the hook's wait
                                       }
                                   }};
        else
            return connection_type{pipeline, fallback};
    }

    /// From the parked list: the connection's socket is readable, its read timed out, or the
    /// thread's io_context goes away.
    static void on_wake(parked_connections::entry& e, parked_connections::wake why) noexcept {
        self c{static_cast<connection_runner*>(&e)};
        switch (why) {
        case parked_connections::wake::readable: return serve(std::move(c));
        case parked_connections::wake::timed_out:
            if (c->metrics_) c->metrics_->read_timeouts.add();
            log_event(log_level::warning, c->id_, "read_timeout", "no data from the MTA within the read timeout: closing");
            return c->close();
        case parked_connections::wake::destroy: return; // as the io_context's pending operations are
        }
    }

    /// Serves what the socket has; parks when it has no more, or closes.
    static void serve(self c) noexcept {
        const std::uint64_t id = c->id_;
        try {
            if constexpr (any_async) {
                auto& context = c->parked_.context();
                asio::co_spawn(context, serve_async(std::move(c)), [id](std::exception_ptr e) { log_exception(id, e); });
            } else {
                serve_sync(std::move(c));
            }
        } catch (...) { // the connection went with `c`; the thread serves the others
            log_exception(id, std::current_exception());
        }
    }

    /// The loop for pipelines whose hooks all return at once: no coroutine, unless a write
    /// would block.
    static void serve_sync(self c) {
        for (;;) {
            switch (c->read_once()) {
            case read_outcome::closed: return;
            case read_outcome::would_block: return park(std::move(c));
            case read_outcome::data: break;
            }
            bool done = false;
            while (auto cmd = c->decoder_.next()) {
                if (!*cmd) {
                    c->malformed(cmd->error());
                    done = true;
                    break;
                }
                const auto timing = c->begin_command(cmd->value());
                const auto step = c->conn_.handle(cmd->value(), c->out_);
                if (!c->end_command(timing, step)) {
                    done = true;
                    break;
                }
            }
            switch (c->write_now()) {
            case write_outcome::failed: return c->close();
            case write_outcome::pending: {
                auto& context = c->parked_.context();
                const std::uint64_t id = c->id_;
                asio::co_spawn(context, finish_write(std::move(c), done), [id](std::exception_ptr e) { log_exception(id, e); });
                return;
            }
            case write_outcome::done: break;
            }
            if (done) return c->close();
            if (c->drained_) return park(std::move(c));
        }
    }

    /// serve_sync's write that would block: waited for, within the write timeout.
    static asio::awaitable<void> finish_write(self c, bool done) {
        // Awaited on a line of its own: with the co_await inside &&, g++ 12 emitted a trap here (SIGILL).
        const bool written = co_await c->write_rest();
        if (written && !done) serve_sync(std::move(c));
        else c->close();
    }

    /// The loop for pipelines with asynchronous hooks: awaits those, handles the rest at once.
    static asio::awaitable<void> serve_async(self c) {
        for (;;) {
            switch (c->read_once()) {
            case read_outcome::closed: co_return;
            case read_outcome::would_block: {
                park(std::move(c));
                co_return;
            }
            case read_outcome::data: break;
            }
            bool done = false;
            while (auto cmd = c->decoder_.next()) {
                if (!*cmd) {
                    c->malformed(cmd->error());
                    done = true;
                    break;
                }
                const auto timing = c->begin_command(cmd->value());
                proto::result<proto::session_step> step = proto::session_step::none;
                if (c->conn_.awaits(cmd->value())) {
                    step = co_await c->conn_.handle_async(cmd->value(), c->out_);
                    c->drained_ = false; // bytes may have come while it waited: read before parking
                } else {
                    step = c->conn_.handle(cmd->value(), c->out_);
                }
                if (c->progress_error_) {
                    (void)c->conn_.take_hook_error(); // the hook was abandoned for the write, not its own fault
                    c->write_failed(c->progress_error_);
                    c->close();
                    co_return;
                }
                if (!c->end_command(timing, step)) {
                    done = true;
                    break;
                }
            }
            switch (c->write_now()) {
            case write_outcome::failed: {
                c->close();
                co_return;
            }
            case write_outcome::pending:
                if (const bool written = co_await c->write_rest(); !written) {
                    c->close();
                    co_return;
                }
                break;
            case write_outcome::done: break;
            }
            if (done) {
                c->close();
                co_return;
            }
            if (c->drained_) {
                park(std::move(c));
                co_return;
            }
        }
    }

    /// Waits for the MTA's next bytes without a coroutine frame, a read buffer or a timer.
    static void park(self c) noexcept {
        // Between messages a connection keeps no buffer: it goes to the thread's spares, and
        // the next read takes one from there (or allocates one of the size reads have grown to
        // on this connection: an MTA that sends big bodies keeps doing so).
        if (c->decoder_.at_packet_boundary() && c->conn_.session().phase() != proto::session_phase::in_message)
            c->parked_.give_back(c->decoder_);
        if (c->out_.capacity() > std::string{}.capacity()) std::string{}.swap(c->out_);
        auto& parked = c->parked_;
        const auto timeout = c->options_.read_timeout;
        parked.park(*c.release(), timeout); // the list owns it until on_wake
    }

    enum class read_outcome { data, would_block, closed };

    /// One read of what the socket has, into the decoder. `drained_` says whether the socket
    /// had no more: a read shorter than its buffer empties it, and only then may the
    /// connection park (the epoll set reports new bytes, not bytes left unread), unless an
    /// event came while it was busy.
    read_outcome read_once() {
        parked_.lend(decoder_);
        auto room = decoder_.prepare(read_size_);
        ssize_t n;
        do n = ::read(fd, room.data(), room.size());
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            drained_ = true;
            read_again = false; // the socket is empty: the next event is a new one
            return read_outcome::would_block;
        }
        if (n <= 0) {
            if (!decoder_.at_packet_boundary() || conn_.session().phase() == proto::session_phase::in_message)
                log_event(log_level::info, id_, "closed_mid_message", "the MTA closed the connection in the middle of " +
                                                   std::string{conn_.session().phase() == proto::session_phase::in_message
                                                                   ? "a message" : "a packet"});
            conn_.on_disconnect();
            return read_outcome::closed;
        }
        const auto got = static_cast<std::size_t>(n);
        decoder_.commit(got);
        // A short read took all the bytes there were; but an end of stream that came with them
        // (or whose event a busy connection missed) only shows on the next read.
        drained_ = got < room.size() && !read_again;
        if (!drained_ && read_size_ < max_read_size) read_size_ *= 2;
        return read_outcome::data;
    }

    struct command_timing {
        char code;
        std::size_t answered_from;
        bool timed;
        std::chrono::steady_clock::time_point started;
    };

    command_timing begin_command(const proto::command& cmd) const {
        const char code = metrics_ ? static_cast<char>(proto::kind_of(cmd)) : '\0';
        // Timed: the commands the MTA may wait on (not macros, which are never answered).
        const bool timed = metrics_ && code != static_cast<char>(proto::command_kind::macro);
        return {code, out_.size(), timed, timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{}};
    }

    /// Counts and logs what handling a command did; false when the connection must close.
    bool end_command(const command_timing& t, const proto::result<proto::session_step>& step) {
        if (metrics_) {
            metrics_->command(t.code);
            if (out_.size() != t.answered_from) { // answered: how long the MTA waited
                if (t.timed) metrics_->observe(t.code, std::chrono::steady_clock::now() - t.started);
                metrics_->answers(t.code, std::string_view{out_}.substr(t.answered_from));
            }
        }
        if (auto failure = conn_.take_hook_error(); !failure.empty()) {
            if (metrics_) {
                metrics_->hook_failures.add();
                if (failure == hook_timeout{}.what()) metrics_->hook_timeouts.add();
            }
            log_event(log_level::error, id_, "hook_failed",
                      "a hook failed, answered " + std::string{to_string(options_.fallback)} + ": " + failure);
        }
        if (!step) {
            if (metrics_) (t.code == 'O' ? metrics_->negotiation_failures : metrics_->protocol_errors).add();
            log_event(log_level::warning, id_, "protocol_error", "closing on a protocol error: " + step.error().message());
            return false;
        }
        return *step != proto::session_step::close;
    }

    void malformed(const proto::error& e) {
        if (metrics_) metrics_->malformed_input.add();
        log_event(log_level::warning, id_, "malformed_input", "closing on malformed input: " + e.message());
    }

    /// Writes what the socket takes now; returns how much, or the error (not would_block).
    std::size_t send_some(std::string_view bytes, boost::system::error_code& ec) noexcept {
        std::size_t written = 0;
        while (written < bytes.size()) {
            // MSG_NOSIGNAL: an MTA gone away is an error here, not SIGPIPE.
            const ssize_t n = ::send(fd, bytes.data() + written, bytes.size() - written, MSG_NOSIGNAL);
            if (n >= 0) {
                written += static_cast<std::size_t>(n);
                continue;
            }
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) ec = {errno, boost::system::system_category()};
            break;
        }
        return written;
    }

    enum class write_outcome { done, pending, failed };

    /// Writes the answers without waiting; `pending` leaves what the socket did not take in out_.
    write_outcome write_now() {
        if (out_.empty()) return write_outcome::done;
        boost::system::error_code ec;
        const std::size_t written = send_some(out_, ec);
        if (ec) {
            write_failed(ec);
            return write_outcome::failed;
        }
        if (written < out_.size()) {
            out_.erase(0, written);
            return write_outcome::pending;
        }
        out_.clear();
        return write_outcome::done;
    }

    /// Writes all of `bytes`: at once if the socket takes them, else waiting for the MTA to
    /// read, within the write timeout (asio::error::timed_out).
    asio::awaitable<boost::system::error_code> write_all(std::string_view bytes) {
        boost::system::error_code ec;
        bytes.remove_prefix(send_some(bytes, ec));
        if (ec || bytes.empty()) co_return ec;
        // The wait goes through Asio on a copy of the descriptor, for as long as it lasts: rare
        // (an MTA that does not read), so the idle connection need not carry a socket for it.
        int family = AF_UNSPEC;
        socklen_t length = sizeof family;
        ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &length);
        const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (copy < 0) co_return boost::system::error_code{errno, boost::system::system_category()};
        stream_socket waiting{parked_.context()};
        // Asio marks an assigned descriptor as a possible copy and removes it from its epoll
        // set itself when closing it.
        waiting.assign(asio::generic::stream_protocol{family, 0}, copy, ec);
        if (ec) {
            ::close(copy);
            co_return ec;
        }
        const socket_deadline::owner deadline{waiting};
        co_return co_await write_within(waiting, *deadline, options_.write_timeout, bytes);
    }

    /// The rest of out_, waiting for the MTA to read it within the write timeout.
    asio::awaitable<bool> write_rest() {
        const auto ec = co_await write_all(out_);
        out_.clear();
        drained_ = false; // bytes may have come while it waited: read before parking
        if (ec) write_failed(ec);
        co_return !ec;
    }

    void write_failed(const boost::system::error_code& ec) {
        if (metrics_ && ec == asio::error::timed_out) metrics_->write_timeouts.add();
        log_write_failure(id_, ec);
    }

    void close_descriptor() noexcept {
        parked_.remove(*this);
        ::shutdown(fd, SHUT_RDWR);
        ::close(fd);
        fd = -1;
    }

    void close() {
        if (conn_.session().phase() != proto::session_phase::closed) conn_.on_disconnect();
        if (fd >= 0) close_descriptor();
        log_event(log_level::debug, id_, "closed", "closed");
    }

    static void log_exception(std::uint64_t id, std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            log_event(log_level::error, id, "connection_exception", std::string{"connection ended by an exception: "} + x.what());
        } catch (...) {
            log_event(log_level::error, id, "connection_exception", "connection ended by an unknown exception");
        }
    }

    parked_connections& parked_;
    connection_type conn_;
    proto::command_decoder decoder_;
    std::string out_;
    std::size_t read_size_ = initial_read_size;
    std::uint64_t id_;
    const server_options& options_;
    metrics_shard* metrics_;
    connection_slot slot_;                    // last: the server counts the connection open until it goes
    struct no_progress {};
    // A PROGRESS write failed: the connection closes. Only asynchronous hooks send PROGRESS.
    [[no_unique_address]] std::conditional_t<any_async, boost::system::error_code, no_progress> progress_error_;
    bool drained_ = false;                     // the last read emptied the socket
};

} // namespace detail

/// A milter served over the network: the typed front of server_core.
template <class Pipeline>
class server {
public:
    server(const Pipeline& pipeline, server_options options)
        : pipeline_{pipeline},
          core_{options, [this](stream_socket s, std::uint64_t id, detail::metrics_shard* metrics, connection_slot slot) {
                    detail::connection_runner<Pipeline>::start(pipeline_, std::move(s), id, core_.options(), metrics, blocking_,
                                                               std::move(slot));
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
