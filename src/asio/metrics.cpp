// --metrics-listen: Prometheus text exposition (format 0.0.4) of the server's counters, over a
// small HTTP/1.1 server (Boost.Beast) on the first worker thread.
#include <cppmilter/asio/detail/metrics.hpp>
#include <cppmilter/asio/log.hpp>
#include <cppmilter/asio/metrics_endpoint.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>

namespace cppmilter::asio_server::detail {

namespace asio = boost::asio;
using stream_socket = listener::socket_type;

namespace {

constexpr std::string_view command_names[] = {"optneg", "connect", "helo", "mail", "rcpt", "data", "header",
                                              "end_of_headers", "body", "end_of_message", "unknown", "abort",
                                              "macro", "quit", "quit_new_connection", "other"};
constexpr std::string_view verdict_names[] = {"continue", "accept", "tempfail", "reject", "discard", "reply_code", "skip"};
constexpr std::string_view modification_names[] = {"add_header", "insert_header", "change_header", "change_from",
                                                   "add_rcpt", "add_rcpt_with_args", "del_rcpt", "replace_body",
                                                   "quarantine"};
static_assert(std::size(command_names) == metric_commands.size() + 1);
static_assert(std::size(verdict_names) == metric_verdicts.size());
static_assert(std::size(modification_names) == metric_modifications.size());

class exposition {
public:
    explicit exposition(const std::vector<std::unique_ptr<metrics_shard>>& shards) : shards_{shards} {}

    template <class Get>
    std::uint64_t sum(Get get) const {
        std::uint64_t total = 0;
        for (const auto& s : shards_) total += get(*s).get();
        return total;
    }
    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ += "# HELP cppmilter_";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE cppmilter_";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }
    void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
        out_ += "cppmilter_";
        out_ += name;
        if (!labels.empty()) {
            out_ += '{';
            out_ += labels;
            out_ += '}';
        }
        out_ += ' ';
        out_ += std::to_string(value);
        out_ += '\n';
    }
    void sample(std::string_view name, std::string_view labels, double value) {
        char text[64];
        std::snprintf(text, sizeof text, "%.9g", value);
        out_ += "cppmilter_";
        out_ += name;
        out_ += '{';
        out_ += labels;
        out_ += "} ";
        out_ += text;
        out_ += '\n';
    }
    template <class Get>
    void counter_family(std::string_view name, std::string_view help, Get get) {
        family(name, "counter", help);
        sample(name, "", sum(get));
    }
    std::string take() { return std::move(out_); }

private:
    const std::vector<std::unique_ptr<metrics_shard>>& shards_;
    std::string out_;
};

std::string label(std::string_view key, std::string_view value) { return std::string{key} + "=\"" + std::string{value} + "\""; }

} // namespace

std::string render_metrics(const std::vector<std::unique_ptr<metrics_shard>>& shards, std::size_t open_connections) {
    exposition e{shards};
    e.family("connections_open", "gauge", "MTA connections open now.");
    e.sample("connections_open", "", static_cast<std::uint64_t>(open_connections));
    e.counter_family("connections_accepted_total", "MTA connections accepted.", [](auto& s) -> auto& { return s.accepted; });
    e.counter_family("connections_refused_total", "MTA connections closed at once because --max-connections were open.",
                     [](auto& s) -> auto& { return s.refused; });
    e.counter_family("malformed_input_total", "Connections closed on a malformed packet.",
                     [](auto& s) -> auto& { return s.malformed_input; });
    e.counter_family("protocol_errors_total", "Connections closed on a command out of order or refused by the session.",
                     [](auto& s) -> auto& { return s.protocol_errors; });
    e.counter_family("negotiation_failures_total", "Connections closed because option negotiation failed.",
                     [](auto& s) -> auto& { return s.negotiation_failures; });
    e.counter_family("hook_failures_total", "Hooks that threw or timed out (answered with --fallback).",
                     [](auto& s) -> auto& { return s.hook_failures; });
    e.counter_family("hook_timeouts_total", "Asynchronous hooks abandoned at --hook-timeout (also in hook_failures_total).",
                     [](auto& s) -> auto& { return s.hook_timeouts; });
    e.counter_family("read_timeouts_total", "Connections closed after --timeout without data from the MTA.",
                     [](auto& s) -> auto& { return s.read_timeouts; });
    e.counter_family("write_timeouts_total", "Connections closed after --write-timeout with an answer unread.",
                     [](auto& s) -> auto& { return s.write_timeouts; });

    e.family("commands_total", "counter", "Commands received from the MTA, by kind.");
    for (std::size_t c = 0; c < std::size(command_names); ++c)
        if (auto n = e.sum([c](auto& s) -> auto& { return s.commands[c]; }); n != 0)
            e.sample("commands_total", label("command", command_names[c]), n);

    e.family("verdicts_total", "counter", "Verdicts answered, by the stage (command) they answer and their kind.");
    for (std::size_t c = 0; c < std::size(command_names); ++c)
        for (std::size_t v = 0; v < std::size(verdict_names); ++v)
            if (auto n = e.sum([c, v](auto& s) -> auto& { return s.verdicts[c][v]; }); n != 0)
                e.sample("verdicts_total", label("stage", command_names[c]) + "," + label("verdict", verdict_names[v]), n);

    e.family("modifications_total", "counter", "Message modifications sent at end of message, by kind.");
    for (std::size_t m = 0; m < std::size(modification_names); ++m)
        if (auto n = e.sum([m](auto& s) -> auto& { return s.modifications[m]; }); n != 0)
            e.sample("modifications_total", label("kind", modification_names[m]), n);

    e.family("command_duration_seconds", "histogram",
             "Time from a command's arrival to its answer: the hooks of its stage and the dispatch.");
    for (std::size_t c = 0; c < std::size(command_names); ++c) {
        const auto count = e.sum([c](auto& s) -> auto& { return s.latencies[c].count; });
        if (count == 0) continue;
        const std::string stage = label("command", command_names[c]);
        std::uint64_t cumulative = 0;
        for (std::size_t b = 0; b <= metric_latency_buckets; ++b) {
            cumulative += e.sum([c, b](auto& s) -> auto& { return s.latencies[c].buckets[b]; });
            char bound[32];
            if (b < metric_latency_buckets) std::snprintf(bound, sizeof bound, "%g", metric_latency_bounds[b]);
            else std::snprintf(bound, sizeof bound, "+Inf");
            e.sample("command_duration_seconds_bucket", stage + "," + label("le", bound), cumulative);
        }
        const double seconds = static_cast<double>(e.sum([c](auto& s) -> auto& { return s.latencies[c].sum_ns; })) / 1e9;
        e.sample("command_duration_seconds_sum", stage, seconds);
        e.sample("command_duration_seconds_count", stage, count);
    }
    return e.take();
}

namespace {

namespace http = boost::beast::http;

asio::awaitable<void> serve_scraper(stream_socket socket, std::function<std::string()> render) {
    // A scraper that stops talking is closed: one timer per request.
    asio::steady_timer deadline{socket.get_executor()};
    boost::beast::flat_buffer buffer;
    for (;;) {
        deadline.expires_after(std::chrono::seconds{10});
        deadline.async_wait([&socket](boost::system::error_code ec) {
            if (!ec) {
                boost::system::error_code ignored;
                socket.close(ignored);
            }
        });
        http::request_parser<http::empty_body> parser;
        parser.header_limit(8 * 1024);
        auto [ec, n] = co_await http::async_read(socket, buffer, parser, asio::as_tuple(asio::use_awaitable));
        (void)n;
        if (ec) break;
        const auto& request = parser.get();
        http::response<http::string_body> response;
        response.version(request.version());
        response.keep_alive(request.keep_alive());
        response.set(http::field::server, "cppmilter");
        const std::string_view target{request.target().data(), request.target().size()};
        if (request.method() != http::verb::get && request.method() != http::verb::head) {
            response.result(http::status::method_not_allowed);
            response.set(http::field::allow, "GET, HEAD");
        } else if (target != "/metrics" && !target.starts_with("/metrics?")) {
            response.result(http::status::not_found);
            response.set(http::field::content_type, "text/plain; charset=utf-8");
            response.body() = "metrics are at /metrics\n";
        } else {
            response.result(http::status::ok);
            response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
            response.body() = render();
            if (request.method() == http::verb::head) {
                response.content_length(response.body().size());
                response.body().clear();
            }
        }
        if (request.method() != http::verb::head) response.prepare_payload();
        auto [write_error, written] = co_await http::async_write(socket, response, asio::as_tuple(asio::use_awaitable));
        (void)written;
        if (write_error || !response.keep_alive()) break;
    }
    deadline.cancel();
    boost::system::error_code ignored;
    socket.shutdown(stream_socket::shutdown_both, ignored);
    socket.close(ignored);
}

asio::awaitable<void> accept_scrapers(listener& l, std::function<std::string()> render) {
    for (;;) {
        auto [ec, socket] = co_await l.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec == asio::error::operation_aborted || !l.is_open()) co_return;
        if (ec) {
            log_event(log_level::warning, 0, "metrics_accept_failed", "metrics: accept failed: " + ec.message());
            asio::steady_timer pause{l.get_executor(), std::chrono::milliseconds{100}};
            co_await pause.async_wait(asio::use_awaitable);
            continue;
        }
        asio::co_spawn(l.get_executor(), serve_scraper(std::move(socket), render), asio::detached);
    }
}

} // namespace

metrics_endpoint::metrics_endpoint(asio::io_context& context, const listen_spec& where, std::function<std::string()> render)
    : listener_{std::make_unique<listener>(open_listener(context, where, listener_options{}))} {
    asio::co_spawn(context, accept_scrapers(*listener_, std::move(render)), asio::detached);
}

metrics_endpoint::~metrics_endpoint() = default;

std::string metrics_endpoint::address() const { return listener_->local_endpoint_string(); }

void metrics_endpoint::close() { listener_->close(); }

} // namespace cppmilter::asio_server::detail
