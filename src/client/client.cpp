// The blocking MTA-side client: POSIX sockets, every wait a poll() with a deadline.
#include <cppmilter/client/client.hpp>

#include <cppmilter/asio/listen.hpp>
#include <cppmilter/proto/encoder.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace cppmilter::client {
namespace {

template <class T>
std::string one_line(const T& x) {
    std::ostringstream os;
    os << x;
    return os.str();
}

std::string system_message(int err) { return std::strerror(err); }

} // namespace

blocking_client::blocking_client(client_options options) : client_core{options} {}

blocking_client::~blocking_client() { close(); }

blocking_client::blocking_client(blocking_client&& other) noexcept
    : client_core{std::move(other)}, fd_{std::exchange(other.fd_, -1)} {}

blocking_client& blocking_client::operator=(blocking_client&& other) noexcept {
    if (this != &other) {
        close();
        client_core::operator=(std::move(other));
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

void blocking_client::close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void blocking_client::fail(const std::string& what) {
    close();
    throw client_error{what};
}

void blocking_client::connect(std::string_view spec) {
    close();
    reset();
    auto parsed = asio_server::parse_listen_spec(spec);
    if (!parsed) throw client_error{parsed.error()};
    const auto& where = *parsed;
    const std::string name{spec};

    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    int family = 0;
    switch (where.type) {
    case asio_server::listen_spec::kind::inet: {
        auto* a = reinterpret_cast<sockaddr_in*>(&addr);
        a->sin_family = AF_INET;
        a->sin_port = htons(where.port);
        if (::inet_pton(AF_INET, where.host.c_str(), &a->sin_addr) != 1)
            throw client_error{name + ": not a numeric IPv4 address"};
        addr_len = sizeof *a;
        family = AF_INET;
        break;
    }
    case asio_server::listen_spec::kind::inet6: {
        auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(where.port);
        if (::inet_pton(AF_INET6, where.host.c_str(), &a->sin6_addr) != 1)
            throw client_error{name + ": not a numeric IPv6 address"};
        addr_len = sizeof *a;
        family = AF_INET6;
        break;
    }
    case asio_server::listen_spec::kind::unix_socket: {
        auto* a = reinterpret_cast<sockaddr_un*>(&addr);
        a->sun_family = AF_UNIX;
        if (where.path.size() >= sizeof a->sun_path) throw client_error{name + ": path too long"};
        std::memcpy(a->sun_path, where.path.c_str(), where.path.size() + 1);
        addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + where.path.size() + 1);
        family = AF_UNIX;
        break;
    }
    default: throw client_error{name + ": cannot connect to an fd: spec"};
    }
    if (family != AF_UNIX && where.port == 0) throw client_error{name + ": port 0"};

    fd_ = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) throw client_error{name + ": socket: " + system_message(errno)};
    if (family != AF_UNIX) {
        int one = 1; // one packet per command, without waiting for the delayed ACK
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    const auto deadline = clock::now() + options().command_timeout;
    while (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN && clock::now() < deadline) { // a UNIX listener's backlog is full
            std::this_thread::sleep_for(std::chrono::milliseconds{1});
            continue;
        }
        if (errno != EINPROGRESS) fail(name + ": cannot connect: " + system_message(errno));
        if (!wait_for(POLLOUT, deadline)) fail(name + ": cannot connect: timed out");
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) fail(name + ": cannot connect: " + system_message(err));
        break;
    }
}

bool blocking_client::wait_for(short events, clock::time_point deadline) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd_, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) fail("poll failed: " + system_message(errno));
    }
}

void blocking_client::send_bytes(std::string_view bytes, clock::time_point deadline) {
    if (fd_ < 0) throw client_error{"not connected"};
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!wait_for(POLLOUT, deadline)) fail("the milter did not read within the timeout");
                continue;
            }
            fail("write failed: " + system_message(errno));
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

proto::packet blocking_client::next_packet(clock::time_point deadline) {
    for (;;) {
        if (auto p = buffered_packet()) return *p;
        auto room = receive_buffer();
        const ssize_t n = ::recv(fd_, room.data(), room.size(), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!wait_for(POLLIN, deadline)) fail("no answer from the milter within the timeout");
                continue;
            }
            fail("read failed: " + system_message(errno));
        }
        if (n == 0) fail("the milter closed the connection");
        received(static_cast<std::size_t>(n));
    }
}

const negotiation& blocking_client::negotiate() {
    std::string bytes;
    append_optneg(bytes);
    const auto deadline = clock::now() + options().command_timeout;
    send_bytes(bytes, deadline);
    try {
        return accept_optneg(next_packet(deadline));
    } catch (const client_error&) {
        close();
        throw;
    }
}

void blocking_client::macros(char stage, const macro_list& pairs) {
    std::string bytes;
    append_macros(bytes, stage, pairs);
    send_bytes(bytes, clock::now() + options().command_timeout);
}

answers blocking_client::read_answer(proto::command_kind k, std::size_t* progress) {
    const auto timeout = timeout_for(k);
    auto deadline = clock::now() + timeout;
    std::string collected;
    try {
        for (;;) {
            switch (accept_reply(k, next_packet(deadline), collected)) {
            case reply_step::progress:
                if (progress) ++*progress;
                deadline = clock::now() + timeout;
                break;
            case reply_step::partial: break;
            case reply_step::verdict: return answers{collected};
            }
        }
    } catch (const client_error&) {
        close();
        throw;
    }
}

answers blocking_client::event(const proto::command& c) {
    std::string bytes;
    if (!append_event(bytes, c)) return answers{{}, false};
    const auto k = proto::kind_of(c);
    send_bytes(bytes, clock::now() + options().command_timeout);
    if (!expects_answer(k)) return answers{};
    return read_answer(k, nullptr);
}

answers blocking_client::connect_info(std::string_view hostname, proto::address_family family, std::uint16_t port,
                                      std::string_view address) {
    return event(proto::connect{hostname, family, port, address});
}
answers blocking_client::helo(std::string_view name) { return event(proto::helo{name}); }
answers blocking_client::mail_from(std::string_view address, const std::vector<std::string>& esmtp_args) {
    std::string raw;
    for (const auto& a : esmtp_args) raw.append(a).push_back('\0');
    return event(proto::mail{address, proto::string_list{raw}});
}
answers blocking_client::rcpt(std::string_view address, const std::vector<std::string>& esmtp_args) {
    std::string raw;
    for (const auto& a : esmtp_args) raw.append(a).push_back('\0');
    return event(proto::rcpt{address, proto::string_list{raw}});
}
answers blocking_client::data() { return event(proto::data{}); }
answers blocking_client::header(std::string_view name, std::string_view value) {
    return event(proto::header{name, value});
}
answers blocking_client::end_of_headers() { return event(proto::end_of_headers{}); }
answers blocking_client::body(std::string_view content) {
    if (content.empty()) return answers{{}, false};
    answers last;
    for (std::size_t at = 0; at < content.size(); at += proto::max_body_chunk) {
        last = event(proto::body{content.substr(at, proto::max_body_chunk)});
        if (!last.sent()) return last;
        const auto* v = last.last();
        if (v && !std::holds_alternative<proto::continue_>(*v)) return last;
    }
    return last;
}
eom_result blocking_client::end_of_message() {
    eom_result r;
    std::string bytes;
    (void)append_event(bytes, proto::end_of_body{}); // never switched off
    send_bytes(bytes, clock::now() + options().command_timeout);
    r.all = read_answer(proto::command_kind::end_of_body, &r.progress);
    return r;
}
answers blocking_client::unknown(std::string_view line) { return event(proto::unknown{line}); }
void blocking_client::abort() {
    std::string bytes;
    append_command(bytes, proto::abort{});
    send_bytes(bytes, clock::now() + options().command_timeout);
}
void blocking_client::quit() {
    std::string bytes;
    append_command(bytes, proto::quit{});
    send_bytes(bytes, clock::now() + options().command_timeout);
    close();
}
void blocking_client::quit_new_connection() {
    std::string bytes;
    append_command(bytes, proto::quit_new_connection{});
    send_bytes(bytes, clock::now() + options().command_timeout);
}

// ---------------------------------------------------------------------------------------------
// deliver

std::string_view to_string(disposition d) noexcept {
    switch (d) {
    case disposition::accepted: return "accepted";
    case disposition::rejected: return "rejected";
    case disposition::tempfailed: return "tempfailed";
    case disposition::discarded: return "discarded";
    }
    return "?";
}

disposition disposition_of(const proto::reply& verdict) noexcept {
    switch (proto::kind_of(verdict)) {
    case proto::reply_kind::reject: return disposition::rejected;
    case proto::reply_kind::tempfail:
    case proto::reply_kind::shutdown: return disposition::tempfailed;
    case proto::reply_kind::discard: return disposition::discarded;
    case proto::reply_kind::smtp_reply: {
        const auto text = std::get<proto::smtp_reply>(verdict).text;
        return !text.empty() && text.front() == '4' ? disposition::tempfailed : disposition::rejected;
    }
    default: return disposition::accepted;
    }
}

namespace {

/// The verdict of `a` unless it lets the transaction go on (nothing, CONTINUE).
const proto::reply* stopping_verdict(const answers& a) {
    const auto* v = a.last();
    if (!v || std::holds_alternative<proto::continue_>(*v)) return nullptr;
    return v;
}

} // namespace

delivery deliver(blocking_client& c, const session_info& session, const message& msg) {
    delivery d;
    d.modified = msg;
    auto decide = [&](const proto::reply& v, std::string_view stage) {
        d.result = disposition_of(v);
        d.decided_at = std::string{stage};
        d.verdict = one_line(v);
    };
    // Each answers object is named: it owns the bytes the verdict's views point into.
    const auto connected = c.connect_info(session.client_name, session.family, session.port, session.client_address);
    if (const auto* v = stopping_verdict(connected)) {
        decide(*v, "CONNECT");
        return d;
    }
    const auto greeted = c.helo(session.helo);
    if (const auto* v = stopping_verdict(greeted)) {
        decide(*v, "HELO");
        return d;
    }
    auto finish = [&](const proto::reply& v, std::string_view stage) {
        decide(v, stage);
        c.abort();
        return d;
    };
    auto a = c.mail_from(msg.sender);
    if (const auto* v = stopping_verdict(a)) return finish(*v, "MAIL");
    answers last_rejection; // owns the bytes the verdict's views point into
    std::size_t accepted = 0;
    for (const auto& r : msg.recipients) {
        auto ra = c.rcpt(r);
        const auto* v = stopping_verdict(ra);
        if (v && std::holds_alternative<proto::accept>(*v)) return finish(*v, "RCPT");
        if (v && std::holds_alternative<proto::discard>(*v)) return finish(*v, "RCPT");
        if (v) {
            d.rejected_recipients.push_back(r);
            last_rejection = ra;
            continue;
        }
        ++accepted;
    }
    if (accepted == 0 && last_rejection.last()) return finish(*last_rejection.last(), "RCPT");
    auto& kept = d.modified.recipients;
    for (const auto& r : d.rejected_recipients) kept.erase(std::find(kept.begin(), kept.end(), r));

    auto data = c.data();
    if (const auto* v = stopping_verdict(data)) return finish(*v, "DATA");
    for (const auto& [name, value] : msg.headers) {
        auto h = c.header(name, value);
        if (const auto* v = stopping_verdict(h)) return finish(*v, "HEADER");
    }
    auto eoh = c.end_of_headers();
    if (const auto* v = stopping_verdict(eoh)) return finish(*v, "EOH");
    auto b = c.body(msg.body);
    if (const auto* v = stopping_verdict(b); v && !std::holds_alternative<proto::skip>(*v)) return finish(*v, "BODY");
    d.eom = c.end_of_message();
    const auto* verdict = d.eom.all.last();
    d.result = disposition_of(*verdict);
    d.verdict = one_line(*verdict);
    if (!std::holds_alternative<proto::continue_>(*verdict)) d.decided_at = "BODYEOB";
    if (d.result == disposition::accepted) apply(d.eom, d.modified);
    c.abort();
    return d;
}

} // namespace cppmilter::client
