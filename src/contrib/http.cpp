// Beast and OpenSSL on the caller's executor: see include/cppmilter/contrib/http.hpp.
#include <cppmilter/contrib/http.hpp>

#include <cppmilter/contrib/dns.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>

namespace cppmilter::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;

namespace {

constexpr auto with_error = asio::as_tuple(asio::use_awaitable);

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lower = [](char c) {
                   return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
               };
               return lower(x) == lower(y);
           });
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value == 0 ||
        value > 65535)
        return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

/// "1.2.3.4", "::1", "[::1]" with an optional ":PORT" (brackets needed for IPv6 with a port).
std::optional<tcp::endpoint> parse_address(std::string_view text, std::uint16_t default_port) {
    std::string_view host = text, port_text;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = text.substr(1, close - 1);
        const auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (!rest.starts_with(':')) return std::nullopt;
            port_text = rest.substr(1);
        }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        host = text.substr(0, text.find(':'));
        port_text = text.substr(text.find(':') + 1);
    }
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(std::string{host}, ec);
    if (ec) return std::nullopt;
    std::uint16_t port = default_port;
    if (!port_text.empty()) {
        const auto p = parse_port(port_text);
        if (!p) return std::nullopt;
        port = *p;
    }
    return tcp::endpoint{address, port};
}

/// The addresses to try for `u` without a lookup: the override, a numeric host, or
/// localhost's two. Empty: the host is a name to look up.
std::vector<tcp::endpoint> endpoints_of(const url& u,
                                        const std::optional<tcp::endpoint>& connect_to) {
    if (connect_to) return {*connect_to};
    if (auto e = parse_address(u.host, u.port)) return {tcp::endpoint{e->address(), u.port}};
    if (iequal(u.host, "localhost"))
        return {tcp::endpoint{asio::ip::address_v4::loopback(), u.port},
                tcp::endpoint{asio::ip::address_v6::loopback(), u.port}};
    return {};
}

bool is_ip_literal(std::string_view host) {
    boost::system::error_code ec;
    asio::ip::make_address(std::string{host}, ec);
    return !ec;
}

/// One kept-alive connection: plain TCP, or TLS over it.
struct connection {
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    clock::time_point idle_since{};

    beast::tcp_stream& tcp_layer() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
    /// Whether the server closed it (or sent something unasked) while it lay in the pool: a
    /// peek that does not wait.
    bool still_open() {
        auto& socket = tcp_layer().socket();
        if (!socket.is_open()) return false;
        char byte;
        const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
};

/// The idle connections of one io_context, by client and destination. An Asio service: it
/// lives and dies with its execution context, so a connection never outlives its reactor.
/// The mutex is for io_contexts run by several threads; the server runs each on one.
class pool_service : public asio::execution_context::service {
public:
    using key_type = pool_service;
    inline static asio::execution_context::id id;

    explicit pool_service(asio::execution_context& context) : service{context} {}

    std::unique_ptr<connection> take(const std::string& key,
                                     std::chrono::milliseconds idle_timeout) {
        std::lock_guard lock{mutex_};
        auto found = idle_.find(key);
        if (found == idle_.end()) return nullptr;
        auto& list = found->second;
        const auto now = clock::now();
        while (!list.empty()) {
            auto c = std::move(list.back()); // the most recently used: least likely closed
            list.pop_back();
            if (now - c->idle_since < idle_timeout && c->still_open()) return c;
        }
        return nullptr;
    }
    void put(const std::string& key, std::unique_ptr<connection> c, std::size_t max_idle,
             std::chrono::milliseconds idle_timeout) {
        std::lock_guard lock{mutex_};
        const auto now = clock::now();
        c->idle_since = now;
        // Connections of other destinations, or of a client replaced by a reload, that lay
        // idle too long are closed here too (the map holds a few keys).
        for (auto it = idle_.begin(); it != idle_.end();) {
            auto& others = it->second;
            while (!others.empty() && now - others.front()->idle_since >= idle_timeout)
                others.pop_front();
            it = others.empty() && it->first != key ? idle_.erase(it) : std::next(it);
        }
        auto& list = idle_[key];
        // The oldest go first: beyond the cap, and those idle too long to be worth keeping.
        while (!list.empty() && list.size() >= max_idle)
            list.pop_front();
        if (max_idle > 0) list.push_back(std::move(c));
    }

private:
    void shutdown() override {
        std::lock_guard lock{mutex_};
        idle_.clear();
    }
    std::mutex mutex_;
    std::map<std::string, std::deque<std::unique_ptr<connection>>> idle_;
};

std::atomic<std::uint64_t> next_client_id{1};

} // namespace

std::string_view to_string(failure f) noexcept {
    switch (f) {
    case failure::bad_request:
        return "bad_request";
    case failure::resolve:
        return "resolve";
    case failure::connect:
        return "connect";
    case failure::tls:
        return "tls";
    case failure::timeout:
        return "timeout";
    case failure::protocol:
        return "protocol";
    case failure::too_large:
        return "too_large";
    case failure::cancelled:
        return "cancelled";
    }
    return "unknown";
}

std::string url::authority() const {
    const bool v6 = host.find(':') != std::string::npos;
    std::string out = v6 ? "[" + host + "]" : host;
    if (port != (tls ? 443 : 80)) out += ":" + std::to_string(port);
    return out;
}

std::optional<url> parse_url(std::string_view text, std::string* why) {
    auto fail = [&](std::string reason) -> std::optional<url> {
        if (why) *why = std::move(reason);
        return std::nullopt;
    };
    url u;
    if (text.starts_with("https://"))
        u.tls = true, text.remove_prefix(8);
    else if (text.starts_with("http://"))
        text.remove_prefix(7);
    else
        return fail("not an http:// or https:// URL");
    if (std::any_of(text.begin(), text.end(), [](char c) { return c <= ' ' || c >= 127; }))
        return fail("the URL holds spaces, control characters or non-ASCII bytes");
    if (text.find('#') != std::string_view::npos) return fail("a URL to POST to has no #fragment");
    const auto path_at = text.find_first_of("/?");
    std::string_view authority = text.substr(0, path_at);
    if (path_at != std::string_view::npos) {
        u.target = std::string{text.substr(path_at)};
        if (u.target.front() == '?') u.target.insert(0, "/");
    }
    if (authority.find('@') != std::string_view::npos)
        return fail("user:password@ in the URL is not supported");
    std::string_view port_text;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return fail("unclosed [ in the host");
        u.host = std::string{authority.substr(1, close - 1)};
        const auto rest = authority.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(':')) return fail("junk after ]");
        if (!rest.empty()) port_text = rest.substr(1);
        if (!is_ip_literal(u.host) || u.host.find(':') == std::string::npos)
            return fail("[...] must hold an IPv6 address");
    } else {
        const auto colon = authority.find(':');
        u.host = std::string{authority.substr(0, colon)};
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    }
    if (u.host.empty()) return fail("no host");
    u.port = u.tls ? 443 : 80;
    if (!port_text.empty() || authority.ends_with(':')) {
        const auto p = parse_port(port_text);
        if (!p) return fail("'" + std::string{port_text} + "' is not a port from 1 to 65535");
        u.port = *p;
    }
    return u;
}

std::optional<std::string_view> response::field_value(std::string_view name) const {
    for (const auto& [n, v] : fields)
        if (iequal(n, name)) return std::string_view{v};
    return std::nullopt;
}

struct client::impl {
    explicit impl(client_options o) : options{std::move(o)}, id{next_client_id++} {
        if (!options.connect_to.empty()) {
            connect_to = parse_address(options.connect_to, 0);
            if (!connect_to)
                throw error{failure::bad_request,
                            "connect-to '" + options.connect_to +
                                "' is not a numeric address ([IPv6]:PORT, IPv4:PORT)"};
        }
        if (auto why = dns::resolver::check_servers(options.dns_servers); !why.empty())
            throw error{failure::bad_request, "dns-servers " + why};
        tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
        if (options.verify) {
            tls.set_verify_mode(asio::ssl::verify_peer);
            boost::system::error_code ec;
            if (options.ca_file.empty())
                tls.set_default_verify_paths(ec);
            else
                tls.load_verify_file(options.ca_file, ec);
            if (ec)
                throw error{failure::bad_request,
                            (options.ca_file.empty() ? std::string{"the system's CA store"}
                                                     : "CA file " + options.ca_file) +
                                ": cannot be loaded: " + ec.message()};
        } else {
            tls.set_verify_mode(asio::ssl::verify_none);
        }
    }

    std::string pool_key(const url& u) const {
        return std::to_string(id) + (u.tls ? "|https|" : "|http|") + u.host + "|" +
               std::to_string(u.port);
    }

    /// A new connection to `u`, TLS handshake done, within `deadline`.
    asio::awaitable<std::unique_ptr<connection>> open(asio::any_io_executor ex, const url& u,
                                                      clock::time_point deadline) {
        auto targets = endpoints_of(u, connect_to);
        if (targets.empty()) targets = co_await resolve(ex, u, deadline);
        auto c = std::make_unique<connection>();
        if (u.tls)
            c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, tls);
        else
            c->plain = std::make_unique<beast::tcp_stream>(ex);
        auto& stream = c->tcp_layer();
        stream.expires_at(deadline);
        boost::system::error_code ec;
        for (const auto& target : targets) {
            if (stream.socket().is_open()) stream.socket().close();
            std::tie(ec) = co_await stream.async_connect(target, with_error);
            if (!ec) break;
        }
        if (ec) throw failed(ec, failure::connect, "cannot connect to " + describe(u));
        stream.socket().set_option(tcp::no_delay{true});
        if (u.tls) {
            SSL* ssl = c->tls->native_handle();
            if (!is_ip_literal(u.host) && !SSL_set_tlsext_host_name(ssl, u.host.c_str()))
                throw error{failure::tls, "cannot set the TLS server name " + u.host};
            if (options.verify)
                c->tls->set_verify_callback(asio::ssl::host_name_verification{u.host});
            stream.expires_at(deadline);
            std::tie(ec) =
                co_await c->tls->async_handshake(asio::ssl::stream_base::client, with_error);
            if (ec) throw failed(ec, failure::tls, "TLS handshake with " + describe(u) + " failed");
        }
        co_return c;
    }

    /// The addresses of `u`'s host name (c-ares on `ex`), or throws: resolve when the name
    /// has none or DNS fails, timeout when the deadline passes first.
    asio::awaitable<std::vector<tcp::endpoint>> resolve(asio::any_io_executor ex, const url& u,
                                                        clock::time_point deadline) const {
        std::optional<dns::resolver> resolver;
        try {
            resolver.emplace(ex, dns::resolver_options{.servers = options.dns_servers});
        } catch (const std::runtime_error& e) {
            throw error{failure::resolve, "cannot resolve host '" + u.host + "': " + e.what()};
        }
        const auto left =
            std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()),
                     std::chrono::milliseconds{0});
        const auto found = co_await resolver->resolve_addresses(u.host, left);
        const std::string what = "cannot resolve host '" + u.host + "'";
        if (found.status != dns::lookup_status::found) {
            if (found.reason == "timeout") throw error{failure::timeout, what + ": timed out"};
            if (found.reason == "cancelled") throw error{failure::cancelled, what + ": cancelled"};
            throw error{failure::resolve, what + ": " + found.reason};
        }
        std::vector<tcp::endpoint> targets;
        for (const auto& a : found.addresses)
            targets.emplace_back(a, u.port);
        co_return targets;
    }

    static std::string describe(const url& u) {
        return (u.tls ? "https://" : "http://") + u.authority();
    }

    static error failed(const boost::system::error_code& ec, failure otherwise,
                        const std::string& what) {
        if (ec == beast::error::timeout) return error{failure::timeout, what + ": timed out"};
        if (ec == asio::error::operation_aborted)
            return error{failure::cancelled, what + ": cancelled"};
        std::string reason = ec.message();
        if (ec.category() == asio::error::get_ssl_category()) {
            // OpenSSL's reason string; for a refused certificate, why it was refused.
            if (const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value())))
                reason = r;
        }
        return error{otherwise, what + ": " + reason};
    }

    client_options options;
    std::uint64_t id; // tells this client's pooled connections from another's (another CA file)
    std::optional<tcp::endpoint> connect_to;
    asio::ssl::context tls{asio::ssl::context::tls_client};
};

client::client(client_options options) : impl_{std::make_shared<impl>(std::move(options))} {}
client::~client() = default;
const client_options& client::options() const noexcept {
    return impl_->options;
}

namespace {

/// Writes `request` and reads the response on `stream`. `received` says whether any byte of
/// an answer came (a request that got none on a reused connection may be sent again).
template <class Stream>
asio::awaitable<boost::system::error_code>
exchange(Stream& stream, beast::tcp_stream& tcp, beast::flat_buffer& buffer,
         bhttp::request<bhttp::string_body>& request,
         bhttp::response_parser<bhttp::string_body>& parser, clock::time_point deadline,
         bool& received) {
    tcp.expires_at(deadline);
    auto [wec, written] = co_await bhttp::async_write(stream, request, with_error);
    (void)written;
    if (wec) co_return wec;
    tcp.expires_at(deadline);
    auto [rec, read] = co_await bhttp::async_read(stream, buffer, parser, with_error);
    received = read > 0 || buffer.size() > 0 || parser.got_some();
    co_return rec;
}

} // namespace

asio::awaitable<response> client::post(url target, std::string body,
                                       std::vector<field> fields,
                                       std::chrono::milliseconds timeout) {
    auto self = impl_; // keeps the TLS context alive while the request runs
    const auto deadline = clock::now() + timeout;
    auto ex = co_await asio::this_coro::executor;

    bhttp::request<bhttp::string_body> request{bhttp::verb::post, target.target, 11};
    request.set(bhttp::field::host, target.authority());
    bool agent = false;
    for (const auto& [name, value] : fields) {
        const bool bad_name = name.empty() || std::any_of(name.begin(), name.end(), [](char c) {
                                  return c <= ' ' || c >= 127 || c == ':';
                              });
        if (bad_name || value.find_first_of("\r\n") != std::string::npos)
            throw error{failure::bad_request,
                        "header field '" + name +
                            "' cannot be sent (bad name, or CR/LF in its value)"};
        request.set(name, value);
        agent = agent || iequal(name, "User-Agent");
    }
    if (!agent) request.set(bhttp::field::user_agent, "cppmilter");
    request.keep_alive(true);
    request.body() = std::move(body);
    request.prepare_payload();

    const std::string key = self->pool_key(target);
    auto& context = asio::query(ex, asio::execution::context);
    for (int attempt = 0;; ++attempt) {
        std::unique_ptr<connection> c;
        if (attempt == 0 && asio::has_service<pool_service>(context))
            c = asio::use_service<pool_service>(context).take(key, self->options.idle_timeout);
        const bool reused = c != nullptr;
        if (!c) c = co_await self->open(ex, target, deadline);

        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(self->options.max_body);
        parser.header_limit(64 * 1024);
        bool received = false;
        boost::system::error_code ec;
        c->buffer.clear();
        if (c->tls)
            ec = co_await exchange(*c->tls, c->tcp_layer(), c->buffer, request, parser, deadline,
                                   received);
        else
            ec = co_await exchange(*c->plain, c->tcp_layer(), c->buffer, request, parser, deadline,
                                   received);

        if (ec) {
            // A kept-alive connection the server closed just as we sent: its request was never
            // read. Once, on a fresh connection.
            const bool closed = ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                                ec == asio::error::connection_reset ||
                                ec == asio::error::broken_pipe ||
                                ec == asio::ssl::error::stream_truncated;
            if (reused && !received && closed && attempt == 0) continue;
            if (ec == bhttp::error::body_limit)
                throw error{failure::too_large, impl::describe(target) + ": response body over " +
                                                    std::to_string(self->options.max_body) +
                                                    " bytes"};
            throw impl::failed(ec, failure::protocol,
                               "request to " + impl::describe(target) + target.target);
        }

        auto message = parser.release();
        response out;
        out.status = message.result_int();
        for (const auto& f : message)
            out.fields.emplace_back(std::string{f.name_string()}, std::string{f.value()});
        out.body = std::move(message.body());
        if (message.keep_alive() && c->buffer.size() == 0) {
            c->tcp_layer().expires_never();
            asio::use_service<pool_service>(context).put(key, std::move(c), self->options.max_idle,
                                                         self->options.idle_timeout);
        }
        co_return out;
    }
}

} // namespace cppmilter::http
