// c-ares on Boost.Asio: see include/cppmilter/contrib/dns.hpp.
#include <cppmilter/contrib/dns.hpp>

#include <ares.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace cppmilter::dns {
namespace asio = boost::asio;

namespace {

constexpr int class_in = 1; // RFC 1035 §3.2.4
constexpr int type_txt = 16;

void library_init() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (int rc = ares_library_init(ARES_LIB_INIT_ALL); rc != ARES_SUCCESS)
            throw std::runtime_error{std::string{"c-ares: "} + ares_strerror(rc)};
    });
}

std::string servers_csv(const std::vector<std::string>& servers) {
    std::string csv;
    for (const auto& s : servers) {
        if (!csv.empty()) csv += ',';
        csv += s;
    }
    return csv;
}

} // namespace

// Types of resolver::impl's members (not in an unnamed namespace: impl has linkage).
namespace detail {

/// A socket c-ares opened, watched for Asio. The descriptor is only borrowed: c-ares closes
/// the socket itself, so it is released (never closed) here.
struct watched_socket {
    explicit watched_socket(asio::any_io_executor ex, ares_socket_t fd) : descriptor{ex, fd}, fd{fd} {}
    ~watched_socket() { forget(); }
    void forget() {
        if (descriptor.is_open()) descriptor.release(); // cancels pending waits, keeps the fd open
        gone = true;
    }
    asio::posix::stream_descriptor descriptor;
    ares_socket_t fd;
    bool want_read = false, want_write = false; // what c-ares asked for last
    bool reading = false, writing = false;      // a wait is pending
    bool gone = false;                          // c-ares is done with it
};

/// One lookup in flight (a TXT query, an address lookup): c-ares' callback completes it, or
/// its deadline or the awaiting coroutine's cancellation ends it first.
template <class Result>
struct pending_query {
    explicit pending_query(asio::any_io_executor ex) : done{ex} {}
    asio::steady_timer done; // expires at the lookup's deadline; cancelled when answered
    bool finished = false;
    Result result;
    int* pending_count = nullptr;

    /// c-ares is done with the query (answered, or gave up): true if it is still awaited.
    bool answered(int status) {
        if (status != ARES_EDESTRUCTION && pending_count) --*pending_count;
        return !finished;
    }
    void complete(Result r) {
        finished = true;
        result = std::move(r);
        done.cancel();
    }
};

} // namespace detail
using detail::pending_query;
using detail::watched_socket;

namespace {

/// The result of a lookup c-ares could not complete: no_record for NXDOMAIN and NODATA,
/// temporary_failure otherwise.
template <class Result>
Result failed_lookup(int status) {
    Result r;
    r.status = status == ARES_ENODATA || status == ARES_ENOTFOUND
                   ? lookup_status::no_record
                   : lookup_status::temporary_failure;
    r.reason = ares_strerror(status);
    return r;
}

} // namespace

struct resolver::impl : std::enable_shared_from_this<impl> {
    impl(asio::any_io_executor ex, const resolver_options& options) : executor{ex}, timer{ex} {
        library_init();
        ares_options o{};
        o.sock_state_cb = &impl::socket_state;
        o.sock_state_cb_data = this;
        o.tries = options.tries > 0 ? options.tries : 1;
        if (int rc = ares_init_options(&channel, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TRIES); rc != ARES_SUCCESS)
            throw std::runtime_error{std::string{"c-ares: cannot initialise: "} + ares_strerror(rc)};
        if (!options.servers.empty()) {
            const auto csv = servers_csv(options.servers);
            if (int rc = ares_set_servers_ports_csv(channel, csv.c_str()); rc != ARES_SUCCESS) {
                ares_destroy(channel);
                throw std::runtime_error{"DNS servers '" + csv + "': " + ares_strerror(rc)};
            }
        }
    }

    ~impl() {
        // Pending queries are answered ARES_EDESTRUCTION; c-ares reports its sockets closed.
        ares_destroy(channel);
        for (auto& [fd, s] : sockets) s->forget();
    }

    static void socket_state(void* data, ares_socket_t fd, int readable, int writable) {
        auto* self = static_cast<impl*>(data);
        auto it = self->sockets.find(fd);
        if (!readable && !writable) { // about to be closed by c-ares
            if (it != self->sockets.end()) {
                it->second->forget();
                self->sockets.erase(it);
            }
            return;
        }
        if (it == self->sockets.end())
            it = self->sockets.emplace(fd, std::make_shared<watched_socket>(self->executor, fd)).first;
        it->second->want_read = readable != 0;
        it->second->want_write = writable != 0;
        self->watch(it->second);
    }

    void watch(const std::shared_ptr<watched_socket>& s) {
        auto wait = [&](asio::posix::descriptor_base::wait_type type, bool watched_socket::*pending) {
            s.get()->*pending = true;
            s->descriptor.async_wait(type, [weak = weak_from_this(), s, type, pending](boost::system::error_code ec) {
                s.get()->*pending = false;
                auto self = weak.lock();
                if (!self || ec || s->gone) return;
                const bool read = type == asio::posix::descriptor_base::wait_read;
                ares_process_fd(self->channel, read ? s->fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : s->fd);
                if (!s->gone) self->watch(s);
                self->reschedule();
            });
        };
        if (s->want_read && !s->reading) wait(asio::posix::descriptor_base::wait_read, &watched_socket::reading);
        if (s->want_write && !s->writing) wait(asio::posix::descriptor_base::wait_write, &watched_socket::writing);
    }

    /// Follows c-ares' own retry and timeout schedule while queries are pending.
    void reschedule() {
        if (pending == 0) {
            timer.cancel();
            return;
        }
        timeval tv{};
        const timeval* next = ares_timeout(channel, nullptr, &tv);
        const auto wait = next ? std::chrono::seconds{next->tv_sec} + std::chrono::microseconds{next->tv_usec}
                               : std::chrono::microseconds{std::chrono::seconds{1}};
        timer.expires_after(wait);
        timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
            auto self = weak.lock();
            if (!self || ec) return;
            ares_process_fd(self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD); // timeouts, retries
            self->reschedule();
        });
    }

    /// A lookup that ends at `deadline`, counted as pending until c-ares answers it.
    template <class Result>
    std::shared_ptr<pending_query<Result>> begin(std::chrono::steady_clock::time_point deadline) {
        auto q = std::make_shared<pending_query<Result>>(executor);
        q->done.expires_at(deadline);
        q->pending_count = &pending;
        ++pending;
        return q;
    }

    /// Sends the TXT query now; its answer (or the deadline) is awaited with finish().
    std::shared_ptr<pending_query<txt_result>>
    start(const std::string& name, std::chrono::steady_clock::time_point deadline);

    /// The result of `q` once c-ares answered it, its deadline passed or the awaiting
    /// coroutine was cancelled.
    template <class Result>
    static asio::awaitable<Result> finish(std::shared_ptr<pending_query<Result>> q) {
        boost::system::error_code ec;
        if (!q->finished)
            std::tie(ec) = co_await q->done.async_wait(asio::as_tuple(asio::use_awaitable));
        if (!q->finished) { // the deadline, or the awaiting coroutine was cancelled
            Result r;
            r.status = lookup_status::temporary_failure;
            r.reason = ec ? "cancelled" : "timeout";
            q->finished = true;
            q->result = std::move(r);
        }
        co_return std::move(q->result);
    }

    asio::any_io_executor executor;
    ares_channel channel = nullptr;
    asio::steady_timer timer;
    std::unordered_map<ares_socket_t, std::shared_ptr<watched_socket>> sockets;
    int pending = 0; // queries c-ares has not answered yet
};

namespace {

txt_result parse_txt(const unsigned char* answer, int length) {
    ares_txt_ext* list = nullptr;
    const int rc = ares_parse_txt_reply_ext(answer, length, &list);
    txt_result r;
    if (rc == ARES_ENODATA) {
        r.status = txt_status::no_record;
        r.reason = ares_strerror(rc);
        return r;
    }
    if (rc != ARES_SUCCESS) {
        r.status = txt_status::temporary_failure;
        r.reason = std::string{"malformed answer: "} + ares_strerror(rc);
        return r;
    }
    for (auto* p = list; p; p = p->next) {
        if (p->record_start || r.records.empty()) r.records.emplace_back();
        r.records.back().append(reinterpret_cast<const char*>(p->txt), p->length);
    }
    ares_free_data(list);
    r.status = r.records.empty() ? txt_status::no_record : txt_status::found;
    return r;
}

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* answer, int length) {
    using query = pending_query<txt_result>;
    std::unique_ptr<std::shared_ptr<query>> owner{static_cast<std::shared_ptr<query>*>(arg)};
    query& q = **owner;
    if (!q.answered(status)) return; // timed out or cancelled already
    // ENODATA: NOERROR without a TXT record; ENOTFOUND: NXDOMAIN.
    q.complete(status == ARES_SUCCESS ? parse_txt(answer, length)
                                      : failed_lookup<txt_result>(status));
}

address_result addresses_of(const ares_addrinfo* info) {
    address_result r;
    for (const auto* node = info ? info->nodes : nullptr; node; node = node->ai_next) {
        asio::ip::address a;
        if (node->ai_family == AF_INET && node->ai_addrlen >= sizeof(sockaddr_in)) {
            const auto* in = reinterpret_cast<const sockaddr_in*>(node->ai_addr);
            a = asio::ip::address_v4{ntohl(in->sin_addr.s_addr)};
        } else if (node->ai_family == AF_INET6 && node->ai_addrlen >= sizeof(sockaddr_in6)) {
            const auto* in6 = reinterpret_cast<const sockaddr_in6*>(node->ai_addr);
            asio::ip::address_v6::bytes_type bytes;
            std::memcpy(bytes.data(), in6->sin6_addr.s6_addr, bytes.size());
            a = asio::ip::address_v6{bytes, in6->sin6_scope_id};
        } else {
            continue;
        }
        if (std::find(r.addresses.begin(), r.addresses.end(), a) == r.addresses.end())
            r.addresses.push_back(a);
    }
    r.status = r.addresses.empty() ? lookup_status::no_record : lookup_status::found;
    if (r.addresses.empty()) r.reason = ares_strerror(ARES_ENODATA);
    return r;
}

void on_addresses(void* arg, int status, int /*timeouts*/, ares_addrinfo* info) {
    using query = pending_query<address_result>;
    std::unique_ptr<std::shared_ptr<query>> owner{static_cast<std::shared_ptr<query>*>(arg)};
    std::unique_ptr<ares_addrinfo, decltype(&ares_freeaddrinfo)> answer{info, &ares_freeaddrinfo};
    query& q = **owner;
    if (!q.answered(status)) return;
    q.complete(status == ARES_SUCCESS ? addresses_of(info) : failed_lookup<address_result>(status));
}

} // namespace

std::shared_ptr<pending_query<txt_result>>
resolver::impl::start(const std::string& name, std::chrono::steady_clock::time_point deadline) {
    auto q = begin<txt_result>(deadline);
    // The callback may run at once (a malformed name): `finished` is then already set.
    ares_query(channel, name.c_str(), class_in, type_txt, &on_answer,
               new std::shared_ptr<pending_query<txt_result>>{q});
    reschedule();
    return q;
}

resolver::resolver(asio::any_io_executor executor, resolver_options options)
    : impl_{std::make_shared<impl>(std::move(executor), options)} {}

resolver::~resolver() = default;

std::string resolver::check_servers(const std::vector<std::string>& servers) {
    if (servers.empty()) return {};
    try {
        library_init();
        ares_channel channel = nullptr;
        if (int rc = ares_init(&channel); rc != ARES_SUCCESS) return ares_strerror(rc);
        const auto csv = servers_csv(servers);
        const int rc = ares_set_servers_ports_csv(channel, csv.c_str());
        ares_destroy(channel);
        return rc == ARES_SUCCESS ? std::string{} : std::string{"'"} + csv + "': " + ares_strerror(rc);
    } catch (const std::exception& e) {
        return e.what();
    }
}

asio::awaitable<txt_result> resolver::resolve_txt(std::string name, std::chrono::milliseconds timeout) {
    auto self = impl_; // the resolver must outlive the lookup; this keeps the channel meanwhile
    auto q = self->start(name, std::chrono::steady_clock::now() + timeout);
    co_return co_await impl::finish(q);
}

asio::awaitable<address_result> resolver::resolve_addresses(std::string name,
                                                            std::chrono::milliseconds timeout) {
    auto self = impl_;
    auto q = self->begin<address_result>(std::chrono::steady_clock::now() + timeout);
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC; // A and AAAA
    hints.ai_socktype = SOCK_STREAM;
    // The callback may run at once (/etc/hosts, a numeric name): `finished` is then already set.
    ares_getaddrinfo(self->channel, name.c_str(), nullptr, &hints, &on_addresses,
                     new std::shared_ptr<pending_query<address_result>>{q});
    self->reschedule();
    co_return co_await impl::finish(q);
}

asio::awaitable<std::vector<txt_result>> resolver::resolve_txt(std::vector<std::string> names,
                                                               std::chrono::milliseconds timeout) {
    auto self = impl_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<std::shared_ptr<pending_query<txt_result>>> queries;
    for (const auto& name : names) queries.push_back(self->start(name, deadline));
    std::vector<txt_result> results;
    bool cancelled = false;
    for (auto& q : queries) {
        if (cancelled && !q->finished) {
            q->finished = true;
            q->result = {lookup_status::temporary_failure, {}, "cancelled"};
        }
        results.push_back(co_await impl::finish(q));
        cancelled = cancelled || results.back().reason == "cancelled";
    }
    co_return results;
}

asio::awaitable<txt_result> resolve_txt(std::string name, std::chrono::milliseconds timeout,
                                        resolver_options options) {
    resolver r{co_await asio::this_coro::executor, std::move(options)};
    co_return co_await r.resolve_txt(std::move(name), timeout);
}

} // namespace cppmilter::dns
