// Asynchronous DNS lookups (TXT records, host addresses) on the caller's executor: c-ares
// driven by Boost.Asio.
//
//     namespace dns = cppmilter::dns;
//     dns::resolver r{co_await asio::this_coro::executor, {.servers = {"127.0.0.1:5353"}}};
//     dns::txt_result key = co_await r.resolve_txt("s1._domainkey.example.org", 5s);
//     if (key.status == dns::txt_status::found) use(key.records.front());
//     dns::address_result policy = co_await r.resolve_addresses("policy.example.org", 5s);
//
// c-ares does the DNS (resolv.conf, retries, TCP fallback, ID and source checks); Asio does the
// waiting: c-ares reports the sockets it wants watched (its socket-state callback), each gets
// an asio::posix::stream_descriptor whose readiness is awaited, and a timer follows
// ares_timeout(). Nothing blocks: a hook that awaits a lookup lets its thread serve other
// connections. Link `cppmilter::dns` (CMake; c-ares is linked statically with the milters).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace cppmilter::dns {

/// What a lookup found out.
enum class lookup_status {
    found,             ///< one or more records (TXT records, addresses)
    no_record,         ///< the name does not exist (NXDOMAIN) or has no such record (NODATA)
    temporary_failure, ///< no answer in time, SERVFAIL, REFUSED, network error: try again later
};
using txt_status = lookup_status;

struct txt_result {
    txt_status status = txt_status::temporary_failure;
    /// One string per TXT record, its character-strings concatenated (RFC 7208 §3.3, RFC 6376
    /// §3.6.2.2), in the order of the answer.
    std::vector<std::string> records;
    /// Why, when not found: "timeout", c-ares' text ("Domain name not found", ...).
    std::string reason;
};

struct address_result {
    lookup_status status = lookup_status::temporary_failure;
    /// The IPv4 (A) and IPv6 (AAAA) addresses, each once, in the order to try them (RFC 6724,
    /// as c-ares sorts them).
    std::vector<boost::asio::ip::address> addresses;
    /// Why, when not found: "timeout", "cancelled", c-ares' text ("Domain name not found", ...).
    std::string reason;
};

struct resolver_options {
    /// Name servers as "IP", "IP:PORT", "[IPv6]:PORT"; empty: those of /etc/resolv.conf.
    std::vector<std::string> servers;
    /// How many times c-ares sends a query to each server before it gives up (the lookup's
    /// own timeout still bounds the whole).
    int tries = 2;
};

/// One c-ares channel bound to an executor. Several lookups may run at once (each awaited by
/// its own coroutine, or gathered with make_parallel_group); all of them must run on this
/// executor's thread, and the resolver must outlive them. Not thread-safe: make one per
/// connection or per message (cheap: no socket is opened before the first query).
class resolver {
public:
    /// Throws std::runtime_error with a one-line reason if c-ares cannot be set up or a server
    /// address is not valid.
    resolver(boost::asio::any_io_executor executor, resolver_options options = {});
    ~resolver();
    resolver(const resolver&) = delete;
    resolver& operator=(const resolver&) = delete;

    /// The TXT records of `name` (queried as it is: no search list). Completes within
    /// `timeout` with temporary_failure ("timeout") if no answer came. If the awaiting
    /// coroutine is cancelled (e.g. by the hook timeout), it ends with temporary_failure
    /// ("cancelled"); the query is abandoned.
    boost::asio::awaitable<txt_result> resolve_txt(std::string name, std::chrono::milliseconds timeout);

    /// Several lookups at once, all sent before the first answer is awaited; the results in
    /// the order of `names`, all within `timeout`.
    boost::asio::awaitable<std::vector<txt_result>> resolve_txt(std::vector<std::string> names,
                                                                std::chrono::milliseconds timeout);

    /// The addresses of the host `name`, as getaddrinfo would find them: /etc/hosts first, then
    /// A and AAAA queries (with resolv.conf's search list for a name with few dots). A numeric
    /// `name` is its own address. Same deadline and cancellation as resolve_txt.
    boost::asio::awaitable<address_result> resolve_addresses(std::string name,
                                                             std::chrono::milliseconds timeout);

    /// Checks a server list as the constructor would, without a resolver: "" if valid, else why.
    static std::string check_servers(const std::vector<std::string>& servers);

private:
    struct impl;
    std::shared_ptr<impl> impl_; // shared with the handlers of pending waits (weak references)
};

/// One lookup with a resolver of its own, on the awaiting coroutine's executor.
boost::asio::awaitable<txt_result> resolve_txt(std::string name, std::chrono::milliseconds timeout,
                                               resolver_options options = {});

} // namespace cppmilter::dns
