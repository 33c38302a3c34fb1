// c-ares on Boost.Asio: see include/cppmilter/contrib/dns.hpp.
#include <cppmilter/contrib/dns.hpp>

#include <ares.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

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

struct pending_query {
    explicit pending_query(asio::any_io_executor ex) : done{ex} {}
    asio::steady_timer done; // expires at the lookup's deadline; cancelled when answered
    bool finished = false;
    txt_result result;
    int* pending_count = nullptr;
};

} // namespace detail
using detail::pending_query;
using detail::watched_socket;

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

    /// Sends the query now; its answer (or the deadline) is awaited with finish().
    std::shared_ptr<pending_query> start(const std::string& name, std::chrono::steady_clock::time_point deadline);
    static asio::awaitable<txt_result> finish(std::shared_ptr<pending_query> q);

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
    std::unique_ptr<std::shared_ptr<pending_query>> owner{static_cast<std::shared_ptr<pending_query>*>(arg)};
    pending_query& q = **owner;
    if (status != ARES_EDESTRUCTION && q.pending_count) --*q.pending_count;
    if (q.finished) return; // timed out or cancelled already
    q.finished = true;
    switch (status) {
    case ARES_SUCCESS: q.result = parse_txt(answer, length); break;
    case ARES_ENODATA:   // NOERROR without a TXT record
    case ARES_ENOTFOUND: // NXDOMAIN
        q.result = {txt_status::no_record, {}, ares_strerror(status)};
        break;
    default: q.result = {txt_status::temporary_failure, {}, ares_strerror(status)}; break;
    }
    q.done.cancel();
}

} // namespace

std::shared_ptr<pending_query> resolver::impl::start(const std::string& name,
                                                    std::chrono::steady_clock::time_point deadline) {
    auto q = std::make_shared<pending_query>(executor);
    q->done.expires_at(deadline);
    q->pending_count = &pending;
    ++pending;
    // The callback may run at once (a malformed name): `finished` is then already set.
    ares_query(channel, name.c_str(), class_in, type_txt, &on_answer, new std::shared_ptr<pending_query>{q});
    reschedule();
    return q;
}

asio::awaitable<txt_result> resolver::impl::finish(std::shared_ptr<pending_query> q) {
    boost::system::error_code ec;
    if (!q->finished) std::tie(ec) = co_await q->done.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!q->finished) { // the deadline, or the awaiting coroutine was cancelled
        q->finished = true;
        q->result = {txt_status::temporary_failure, {}, ec ? "cancelled" : "timeout"};
    }
    co_return std::move(q->result);
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

asio::awaitable<std::vector<txt_result>> resolver::resolve_txt(std::vector<std::string> names,
                                                               std::chrono::milliseconds timeout) {
    auto self = impl_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<std::shared_ptr<pending_query>> queries;
    for (const auto& name : names) queries.push_back(self->start(name, deadline));
    std::vector<txt_result> results;
    bool cancelled = false;
    for (auto& q : queries) {
        if (cancelled && !q->finished) {
            q->finished = true;
            q->result = {txt_status::temporary_failure, {}, "cancelled"};
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
