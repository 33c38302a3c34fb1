#include <cppmilter/asio/listen.hpp>
#include <cppmilter/asio/metrics_endpoint.hpp>
#include <cppmilter/asio/server.hpp>

#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>

#include <atomic>
#include <cstdio>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <thread>

#include <signal.h>

namespace cppmilter::asio_server {

namespace {
std::string octal(unsigned mode) {
    char text[16];
    std::snprintf(text, sizeof text, "0%o", mode);
    return text;
}
} // namespace

struct server_core::impl final : connection_slot::owner {
    server_options options;
    connection_handler handler;

    using work_guard = asio::executor_work_guard<asio::io_context::executor_type>;
    std::vector<std::unique_ptr<asio::io_context>> contexts; // [0] also runs acceptors and signals
    std::vector<work_guard> guards;
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<listener>> listeners;
    std::vector<std::unique_ptr<detail::metrics_shard>> shards; // one per context, with --metrics-listen
    std::unique_ptr<detail::metrics_endpoint> metrics;
    std::unique_ptr<asio::steady_timer> drain_timer;
    std::unique_ptr<asio::signal_set> signals; // run()'s; like the timer, must go before contexts
    std::function<void()> reload;               // SIGHUP under run()

    std::atomic<std::size_t> active{0};
    std::atomic<std::uint64_t> next_id{1};
    std::size_t next_context = 0; // only touched on contexts[0]
    bool stopping = false;        // only touched on contexts[0]

    std::mutex mutex;
    std::condition_variable finished_cv;
    bool finished = false;

    asio::io_context& main() { return *contexts[0]; }

    asio::awaitable<void> accept_loop(listener& l) {
        // Counted on contexts[0]'s shard: this loop runs on that thread.
        detail::metrics_shard* here = shards.empty() ? nullptr : shards[0].get();
        for (;;) {
            const std::size_t target_index = next_context++ % contexts.size();
            auto& target = *contexts[target_index];
            auto [ec, socket] = co_await l.async_accept(target, asio::as_tuple(asio::use_awaitable));
            if (stopping && ec) co_return;
            if (ec) {
                if (ec == asio::error::operation_aborted) co_return;
                log_event(log_level::error, 0, "accept_failed", "accept on " + l.local_endpoint_string() + " failed: " + ec.message());
                // Out of descriptors and the like: do not spin; try again shortly.
                asio::steady_timer pause{main(), std::chrono::milliseconds{100}};
                co_await pause.async_wait(asio::use_awaitable);
                continue;
            }
            if (active.load() >= options.max_connections) {
                if (here) here->refused.add();
                log_event(log_level::warning, 0, "connection_refused", "refusing a connection on " + l.local_endpoint_string() + ": " +
                                                    std::to_string(options.max_connections) +
                                                    " are open (--max-connections)");
                boost::system::error_code ignored;
                socket.close(ignored);
                continue;
            }
            ++active;
            if (here) here->accepted.add();
            const std::uint64_t id = next_id++;
            detail::metrics_shard* counters = shards.empty() ? nullptr : shards[target_index].get();
            // Served on its own thread; the slot counts it open until it is gone.
            asio::post(target, [this, socket = std::move(socket), id, counters, slot = connection_slot{this}]() mutable {
                handler(std::move(socket), id, counters, std::move(slot));
            });
            if (stopping) co_return;
        }
    }

    void release_connection() noexcept override {
        if (--active != 0) return;
        std::lock_guard lock{mutex};
        if (!finished) asio::post(main(), [this] { if (stopping) finish(); });
    }

    void stop_accepting() {
        if (stopping) return;
        stopping = true;
        for (auto& l : listeners) l->close();
        if (metrics) metrics->close();
        // An accept that completed before the close is still queued on this context: let it
        // run (it serves its connection) before deciding that nothing is open.
        asio::post(main(), [this] { if (active.load() == 0) finish(); });
        if (active.load() != 0)
            log_event(log_level::info, 0, "stopping", "stopping: waiting for " + std::to_string(active.load()) + " open connection(s)");
        drain_timer = std::make_unique<asio::steady_timer>(main(), options.shutdown_timeout);
        drain_timer->async_wait([this](boost::system::error_code ec) {
            if (ec || finished_flag()) return;
            log_event(log_level::warning, 0, "shutdown_timeout", "shutdown timeout: closing " + std::to_string(active.load()) +
                                                " connection(s) that are still open; their MTAs apply their default action");
            finish();
        });
    }

    bool finished_flag() {
        std::lock_guard lock{mutex};
        return finished;
    }

    void finish() {
        {
            std::lock_guard lock{mutex};
            if (finished) return;
            finished = true;
        }
        if (drain_timer) drain_timer->cancel();
        for (auto& g : guards) g.reset();
        for (auto& c : contexts) c->stop();
        finished_cv.notify_all();
    }
};

server_core::server_core(server_options options, connection_handler handler) : impl_{std::make_unique<impl>()} {
    if (options.threads == 0) options.threads = default_threads();
    impl_->options = std::move(options);
    impl_->handler = std::move(handler);
}

server_core::~server_core() {
    if (!impl_->threads.empty()) {
        request_stop();
        wait();
    }
}

const server_options& server_core::options() const noexcept { return impl_->options; }
std::string server_core::metrics_address() const { return impl_->metrics ? impl_->metrics->address() : std::string{}; }
std::size_t server_core::active_connections() const noexcept { return impl_->active.load(); }

std::vector<std::string> server_core::start() {
    auto& s = *impl_;
    std::signal(SIGPIPE, SIG_IGN); // a vanished MTA must be a write error, not a dead server
    for (unsigned i = 0; i < s.options.threads; ++i) {
        s.contexts.push_back(std::make_unique<asio::io_context>(1)); // one thread each: no locking inside
        // Its epoll set for the connections, now: a failure is a start-up error, not a lost connection.
        asio::use_service<detail::parked_connections>(*s.contexts.back());
        s.guards.push_back(asio::make_work_guard(*s.contexts.back()));
    }
    listener_options lo;
    lo.socket_mode = s.options.socket_mode;
    if (s.options.listen.empty()) {
        for (auto& l : inherited_listeners(s.main())) s.listeners.push_back(std::make_unique<listener>(std::move(l)));
        if (s.listeners.empty())
            throw std::runtime_error("nothing to listen on: give --listen SPEC (e.g. --listen unix:/run/milter.sock) "
                                     "or start under systemd socket activation");
    }
    for (const auto& text : s.options.listen) {
        auto spec = parse_listen_spec(text);
        if (!spec) throw std::runtime_error(spec.error());
        s.listeners.push_back(std::make_unique<listener>(open_listener(s.main(), *spec, lo)));
    }
    if (!s.options.metrics_listen.empty()) {
        auto spec = parse_listen_spec(s.options.metrics_listen);
        if (!spec) throw std::runtime_error("--metrics-listen: " + spec.error());
        for (std::size_t i = 0; i < s.contexts.size(); ++i) s.shards.push_back(std::make_unique<detail::metrics_shard>());
        s.metrics = std::make_unique<detail::metrics_endpoint>(
            s.main(), *spec, [&s] { return detail::render_metrics(s.shards, s.active.load()); });
        log_event(log_level::info, 0, "metrics_listening", "metrics served on " + s.metrics->address() + " at /metrics",
                  {{"address", s.metrics->address()}});
    }
    std::vector<std::string> bound;
    for (auto& l : s.listeners) {
        bound.push_back(l->local_endpoint_string());
        if (l->is_unix() && (s.options.socket_mode & 0002))
            log_event(log_level::warning, 0, "socket_world_writable", bound.back() + " is world-writable (--socket-mode " +
                                                octal(s.options.socket_mode) + ")");
        log_event(log_level::info, 0, "listening", "listening on " + bound.back(), {{"address", bound.back()}});
        asio::co_spawn(s.main(), s.accept_loop(*l), asio::detached);
    }
    for (auto& c : s.contexts) s.threads.emplace_back([ctx = c.get()] { ctx->run(); });
    return bound;
}

void server_core::request_stop() {
    // Under the mutex: once finished, wait() may destroy the contexts.
    std::lock_guard lock{impl_->mutex};
    if (impl_->finished || impl_->contexts.empty()) return;
    asio::post(impl_->main(), [s = impl_.get()] { s->stop_accepting(); });
}

int server_core::wait() {
    {
        std::unique_lock lock{impl_->mutex};
        impl_->finished_cv.wait(lock, [this] { return impl_->finished; });
    }
    for (auto& t : impl_->threads)
        if (t.joinable()) t.join();
    impl_->threads.clear();
    impl_->listeners.clear(); // removes our UNIX socket files
    impl_->metrics.reset();
    // Close the connections the shutdown timeout cut off: they sit in their stopped contexts
    // and would keep their sockets open until this object is destroyed. Destroying the
    // contexts destroys them (their MTAs see EOF now); what uses a context goes first.
    impl_->signals.reset();
    impl_->drain_timer.reset();
    impl_->guards.clear();
    impl_->contexts.clear();
    impl_->active = 0;
    log_event(log_level::info, 0, "stopped", "stopped");
    return 0;
}

void server_core::on_hangup(std::function<void()> reload) { impl_->reload = std::move(reload); }

void server_core::wait_for_signal() {
    impl_->signals->async_wait([this](boost::system::error_code ec, int signal) {
        if (ec) return;
        if (signal == SIGHUP) {
            if (impl_->reload) impl_->reload();
            return wait_for_signal();
        }
        log_event(log_level::info, 0, "stop_signal", std::string{"received "} + (signal == SIGTERM ? "SIGTERM" : "SIGINT"));
        impl_->stop_accepting();
    });
}

int server_core::run() {
    // A SIGTERM/SIGINT that came before the handler below is installed would kill the process
    // with its listeners open (no drain, the UNIX socket file left behind): keep them blocked
    // until then. The worker threads start with them blocked and keep them so; a pending one
    // is delivered to this thread, to the handler, when they are unblocked.
    sigset_t stop_signals, previous;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP); // its default action would kill the server, too
    pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
    try {
        start();
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        throw;
    }
    impl_->signals = std::make_unique<asio::signal_set>(impl_->main(), SIGTERM, SIGINT, SIGHUP);
    wait_for_signal();
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return wait();
}

void print_postfix_config(std::ostream& os, std::string_view program, const negotiation& n, const server_options& options) {
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    os << "# main.cf lines for " << program << " as configured; paste them, then `postfix reload`.\n";
    // Postfix's smtpd runs chrooted to its queue directory by default: a socket under it is
    // named from there.
    constexpr std::string_view spool = "/var/spool/postfix";
    std::vector<std::string> specs;
    for (const auto& text : options.listen) {
        auto spec = parse_listen_spec(text);
        if (!spec) continue;
        switch (spec->type) {
        case listen_spec::kind::inet: specs.push_back("inet:" + spec->host + ":" + std::to_string(spec->port)); break;
        case listen_spec::kind::inet6: specs.push_back("inet:[" + spec->host + "]:" + std::to_string(spec->port)); break;
        case listen_spec::kind::unix_socket:
            if (spec->path.starts_with(std::string{spool} + "/")) {
                specs.push_back("unix:" + spec->path.substr(spool.size()));
            } else {
                os << "# " << spec->path << " is outside Postfix's chroot (" << spool
                   << "): smtpd reaches it only with chroot = n in master.cf\n";
                specs.push_back("unix:" + spec->path);
            }
            break;
        case listen_spec::kind::systemd_fd: break;
        }
    }
    if (specs.empty()) {
        os << "# no --listen: under socket activation, name the .socket unit's ListenStream here\n";
        specs.push_back("unix:/milter/" + std::string{program} + ".sock");
    }
    os << "smtpd_milters = ";
    for (std::size_t i = 0; i < specs.size(); ++i) os << (i ? ", " : "") << specs[i];
    os << "\n";
    os << "# mail submitted with sendmail(1) / pickup, too (drop the line to filter SMTP only):\n";
    os << "non_smtpd_milters = $smtpd_milters\n";
    os << "milter_protocol = 6\n";
    os << "# when the milter cannot be reached or breaks the protocol (its own --fallback, "
       << to_string(options.fallback) << ", covers hooks that fail):\n";
    os << "milter_default_action = tempfail\n";
    // An asynchronous hook may take --hook-timeout before its answer (the fallback); Postfix
    // must wait longer. At end of message PROGRESS keeps Postfix waiting, every
    // --progress-interval.
    const auto hook = duration_cast<seconds>(options.hook_timeout).count() + 1;
    os << "milter_command_timeout = " << std::max<long long>(30, hook + 10) << "s\n";
    os << "milter_content_timeout = " << std::max<long long>(300, hook + 10) << "s\n";
    bool any_macro = false;
    constexpr const char* parameters[] = {"milter_connect_macros",  "milter_helo_macros",        "milter_mail_macros",
                                          "milter_rcpt_macros",     "milter_data_macros",        "milter_end_of_data_macros",
                                          "milter_end_of_header_macros"};
    for (std::size_t i = 0; i < n.macros.size(); ++i) {
        if (!n.macros[i]) continue;
        if (!any_macro)
            os << "# The milter asks for its macros itself (SETSYMLIST, milter_protocol 6); Postfix sends\n"
                  "# exactly these at each stage, nothing to set. For reference:\n";
        any_macro = true;
        os << "#   " << parameters[i] << ": " << *n.macros[i] << "\n";
    }
}

void print_negotiation(std::ostream& os, const negotiation& n) {
    os << "actions:  " << n.actions << '\n' << "protocol: " << n.protocol << '\n';
    for (std::size_t i = 0; i < n.macros.size(); ++i)
        if (n.macros[i]) os << "macros " << static_cast<proto::macro_stage>(i) << ": " << *n.macros[i] << '\n';
}

} // namespace cppmilter::asio_server
