// An HTTP/1.1 client for the server's executors: POST to http:// and https:// URLs, with
// kept-alive connections reused per io_context.
//
//     namespace http = cppmilter::http;
//     http::client c{{.ca_file = ""}};                       // the system's trusted CAs
//     const http::url u = http::parse_url("https://policy.example.org/check").value();
//     http::response r = co_await c.post(u, R"({"a":1})", {{"Content-Type", "application/json"}},
//     5s); if (r.status == 200) use(r.body);
//
// Boost.Beast speaks HTTP, OpenSSL (via Asio) TLS: certificates are verified against the system
// store or a CA file, the server name is sent (SNI) and checked against the certificate. One
// timeout covers the whole request: connect, TLS handshake, write and read. A response body
// over `max_body` bytes ends the request with an error. Failures throw http::error (a kind and
// one line): the caller chooses its fallback.
//
// Connections are kept alive and pooled per io_context (an Asio service of the executor's
// execution context). A pooled connection is checked before use (a peek that does not wait:
// closed by the server, it is dropped). If the server closes a reused connection as the
// request goes out (the write fails, or the connection ends before any byte of an answer),
// the request is sent once more on a new connection: the server closed an idle connection
// and did not read it. (In the rare case that it did read it and died before answering, the
// endpoint sees the document twice.) Nothing is shared between threads but the TLS context.
//
// A host name in a URL is looked up asynchronously with c-ares (cppmilter::dns, on the
// request's executor, within the request's timeout; never glibc's getaddrinfo: a static binary
// must not load NSS modules, docs/server.md): /etc/hosts, then A and AAAA queries to
// `dns_servers` (default: those of /etc/resolv.conf); the addresses are tried in order. A
// numeric host or `localhost` is not looked up; nor is anything when the client is given the
// address to connect to (`connect_to`). The URL's name goes into SNI, the certificate check
// and the Host header. Link `cppmilter::http` (CMake).
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cppmilter::http {

/// What an http:// or https:// URL says.
struct url {
    bool tls = false;       ///< https
    std::string host;       ///< as written, without brackets for IPv6 ("policy.example.org", "::1")
    std::uint16_t port = 0; ///< given, or 80 / 443
    std::string target = "/"; ///< path and query ("/check?v=1")

    /// "host:port" as the Host header carries it (brackets around IPv6).
    std::string authority() const;
};

/// Parses `text`: `http[s]://HOST[:PORT][/PATH][?QUERY]` (no user info, no fragment). nullopt
/// with a reason in `why` (if given) when it is none of these.
std::optional<url> parse_url(std::string_view text, std::string* why = nullptr);

/// One header field of a request or response.
using field = std::pair<std::string, std::string>;

struct response {
    unsigned status = 0;       ///< 200, 404, ...
    std::string body;          ///< at most client_options::max_body bytes
    std::vector<field> fields; ///< the response's header fields, in order
    /// The first field called `name` (case-insensitive), or nullopt.
    std::optional<std::string_view> field_value(std::string_view name) const;
};

/// Why a request failed.
enum class failure {
    bad_request, ///< the URL or a header cannot be sent (CR/LF in a value)
    resolve,     ///< the URL's host name has no address (NXDOMAIN, NODATA) or DNS failed
    connect,     ///< the TCP connection could not be made
    tls,         ///< the TLS handshake failed: certificate not trusted, wrong name, protocol
    timeout,     ///< the whole request took longer than its timeout
    protocol,    ///< the answer is not HTTP, or the connection closed before it was whole
    too_large,   ///< the response body exceeds max_body
    cancelled,   ///< the awaiting coroutine was cancelled
};
std::string_view to_string(failure f) noexcept;

/// A failed request: `kind` for the program, what() one line for the log.
struct error : std::runtime_error {
    error(failure kind, const std::string& text) : std::runtime_error{text}, kind{kind} {}
    failure kind;
};

struct client_options {
    /// PEM file of the CAs to trust for https; empty: the system's store (OpenSSL's default
    /// paths, /etc/ssl/certs on Debian).
    std::string ca_file;
    /// Verify the server's certificate chain and name (default). Off only for tests.
    bool verify = true;
    /// Connect here instead of the URL's host ("192.0.2.7", "[2001:db8::1]", with an optional
    /// ":PORT"; numeric). The URL's host still goes into SNI, the certificate check and Host.
    std::string connect_to;
    /// Name servers that look up the URL's host name: "IP", "IP:PORT", "[IPv6]:PORT"; empty:
    /// those of /etc/resolv.conf.
    std::vector<std::string> dns_servers;
    /// Largest response body accepted.
    std::size_t max_body = 1024 * 1024;
    /// How long an idle pooled connection is kept for reuse.
    std::chrono::milliseconds idle_timeout{30'000};
    /// Idle connections kept per io_context and destination.
    std::size_t max_idle = 64;
};

/// A client: options and the TLS context, shared by every request made with it from any
/// thread. Each request runs on the awaiting coroutine's executor; its connection comes from
/// (and goes back to) the pool of that executor's io_context.
class client {
public:
    /// Throws http::error(bad_request) when the CA file cannot be loaded, `connect_to` is
    /// not a numeric address or a DNS server is not an address.
    explicit client(client_options options = {});
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// POSTs `body` to `target` with the given header fields (Host, Content-Length and
    /// Connection are set here; a User-Agent unless given). Completes with the response
    /// (any status) or throws http::error, within `timeout`. Every argument is taken by value:
    /// the coroutine starts when awaited, after a caller's temporaries are gone.
    boost::asio::awaitable<response> post(url target, std::string body,
                                          std::vector<field> fields,
                                          std::chrono::milliseconds timeout);

    const client_options& options() const noexcept;

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

} // namespace cppmilter::http
