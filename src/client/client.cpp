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

std::string name_of(proto::command_kind k) { return std::string{proto::to_string(k)}; }

std::string system_message(int err) { return std::strerror(err); }

/// The wire bytes of one packet (length prefix, letter, payload).
void append_packet(std::string& out, const proto::packet& p) {
    const auto len = static_cast<std::uint32_t>(p.payload.size() + 1);
    out.push_back(static_cast<char>((len >> 24) & 0xff));
    out.push_back(static_cast<char>((len >> 16) & 0xff));
    out.push_back(static_cast<char>((len >> 8) & 0xff));
    out.push_back(static_cast<char>(len & 0xff));
    out.push_back(p.letter);
    out.append(p.payload);
}

} // namespace

blocking_client::blocking_client(client_options options)
    : client_options_{options}, reader_{options.max_payload} {}

blocking_client::~blocking_client() { close(); }

blocking_client::blocking_client(blocking_client&& other) noexcept
    : trace{std::move(other.trace)}, client_options_{other.client_options_}, fd_{std::exchange(other.fd_, -1)},
      reader_{std::move(other.reader_)}, negotiation_{std::move(other.negotiation_)}, options_{other.options_},
      progress_{other.progress_}, macros_sent_{other.macros_sent_} {}

blocking_client& blocking_client::operator=(blocking_client&& other) noexcept {
    if (this != &other) {
        close();
        trace = std::move(other.trace);
        client_options_ = other.client_options_;
        fd_ = std::exchange(other.fd_, -1);
        reader_ = std::move(other.reader_);
        negotiation_ = std::move(other.negotiation_);
        options_ = other.options_;
        progress_ = other.progress_;
        macros_sent_ = other.macros_sent_;
    }
    return *this;
}

void blocking_client::close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    reader_ = proto::packet_reader{client_options_.max_payload};
}

void blocking_client::fail(const std::string& what) {
    close();
    throw client_error{what};
}

void blocking_client::connect(std::string_view spec) {
    close();
    options_ = {};
    negotiation_ = {};
    macros_sent_ = false;
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
    const auto deadline = clock::now() + client_options_.command_timeout;
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

void blocking_client::send(const proto::command& c) {
    std::string bytes;
    if (auto ok = proto::encode(bytes, c); !ok) throw client_error{"cannot encode: " + ok.error().message()};
    log("> " + one_line(c));
    send_bytes(bytes, clock::now() + client_options_.command_timeout);
}

proto::packet blocking_client::next_packet(clock::time_point deadline) {
    for (;;) {
        if (auto p = reader_.next()) {
            if (!*p) fail("the milter broke the framing: " + p->error().message());
            return **p;
        }
        auto room = reader_.prepare(4096);
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
        reader_.commit(static_cast<std::size_t>(n));
    }
}

const negotiation& blocking_client::negotiate() {
    const auto& offer = client_options_.offer;
    send(offer);
    const auto timeout = client_options_.command_timeout;
    const auto p = next_packet(clock::now() + timeout);
    if (p.letter != 'O') {
        auto r = proto::parse_reply(p);
        fail("OPTNEG answered with " + (r ? one_line(*r) : "letter '" + std::string(1, p.letter) + "'") +
             " instead of an OPTNEG reply");
    }
    if (p.payload.size() < 12)
        fail("OPTNEG reply too short: " + std::to_string(p.payload.size()) + " bytes, at least 12 needed");
    auto r = proto::parse_reply(p);
    if (!r) fail("malformed OPTNEG reply: " + r.error().message());
    const auto& o = std::get<proto::optneg_reply>(*r);
    log("< " + one_line(*r));
    if (o.version < proto::min_protocol_version || o.version > offer.version)
        fail("OPTNEG reply: version " + std::to_string(o.version) + " not within 2.." + std::to_string(offer.version));
    if (const auto extra = o.actions - offer.actions; !extra.empty())
        fail("OPTNEG reply: actions not offered: " + proto::to_string(extra));
    if (const auto extra = o.protocol - offer.protocol - proto::internal_protocol; !extra.empty())
        fail("OPTNEG reply: protocol bits not offered: " + proto::to_string(extra));
    negotiation n;
    n.version = o.version;
    n.actions = o.actions;
    n.protocol = o.protocol - proto::internal_protocol;
    for (std::size_t i = 0; i < o.macros.size(); ++i)
        if (o.macros[i]) n.macros[i] = std::string{*o.macros[i]};
    negotiation_ = std::move(n);
    options_ = negotiation_.options();
    return negotiation_;
}

void blocking_client::macros(char stage, const std::vector<std::pair<std::string, std::string>>& pairs) {
    std::vector<std::pair<std::string_view, std::string_view>> views(pairs.begin(), pairs.end());
    std::string bytes;
    if (auto ok = proto::encode_macro(bytes, stage, views); !ok) throw client_error{"cannot encode: " + ok.error().message()};
    proto::command_decoder d;
    d.feed(bytes);
    if (auto c = d.next(); c && *c) log("> " + one_line(**c));
    send_bytes(bytes, clock::now() + client_options_.command_timeout);
    macros_sent_ = true;
}

answers blocking_client::read_answer(proto::command_kind k, std::chrono::milliseconds timeout,
                                     std::size_t* progress) {
    const bool at_eom = k == proto::command_kind::end_of_body;
    auto deadline = clock::now() + timeout;
    std::string bytes;
    for (;;) {
        const auto p = next_packet(deadline);
        auto r = proto::parse_reply(p);
        if (!r) fail("malformed reply to " + name_of(k) + ": " + r.error().message());
        const auto rk = proto::kind_of(*r);
        log("< " + one_line(*r));
        const std::string what = std::string{proto::to_string(rk)} + " in answer to " + name_of(k);
        if (rk == proto::reply_kind::progress) {
            ++progress_;
            if (progress) ++*progress;
            deadline = clock::now() + timeout;
            continue;
        }
        if (rk == proto::reply_kind::optneg) fail("protocol violation: " + what);
        if (proto::is_modification(rk)) {
            if (!at_eom) fail("protocol violation: " + what + " (modifications only at end of message)");
            if (const auto missing = proto::required_action(rk) - options_.actions; !missing.empty())
                fail("protocol violation: " + what + " needs action " + proto::to_string(missing) +
                     ", which was not negotiated");
        }
        if (rk == proto::reply_kind::skip) {
            if (k != proto::command_kind::body) fail("protocol violation: " + what + " (SKIP only after BODY)");
            if (!options_.protocol.has(proto::protocol::skip)) fail("protocol violation: " + what + " (SKIP not negotiated)");
        }
        append_packet(bytes, p);
        if (proto::is_verdict(rk)) return answers{std::move(bytes)};
    }
}

answers blocking_client::event(const proto::command& c, std::chrono::milliseconds timeout) {
    const auto k = proto::kind_of(c);
    if (!options_.sends(k)) {
        log("- " + name_of(k) + " (not sent)");
        return answers{{}, false};
    }
    if (client_options_.postfix_macros && !macros_sent_) {
        std::string bytes;
        (void)proto::encode_macro(bytes, static_cast<char>(k), {});
        log("> MACRO stage=\"" + std::string(1, static_cast<char>(k)) + "\"");
        send_bytes(bytes, clock::now() + client_options_.command_timeout);
    }
    macros_sent_ = false;
    send(c);
    if (!options_.expects_answer(k)) return answers{};
    return read_answer(k, timeout, nullptr);
}

answers blocking_client::connect_info(std::string_view hostname, proto::address_family family, std::uint16_t port,
                                      std::string_view address) {
    return event(proto::connect{hostname, family, port, address}, client_options_.command_timeout);
}
answers blocking_client::helo(std::string_view name) {
    return event(proto::helo{name}, client_options_.command_timeout);
}
answers blocking_client::mail_from(std::string_view address, const std::vector<std::string>& esmtp_args) {
    std::string raw;
    for (const auto& a : esmtp_args) raw.append(a).push_back('\0');
    return event(proto::mail{address, proto::string_list{raw}}, client_options_.command_timeout);
}
answers blocking_client::rcpt(std::string_view address, const std::vector<std::string>& esmtp_args) {
    std::string raw;
    for (const auto& a : esmtp_args) raw.append(a).push_back('\0');
    return event(proto::rcpt{address, proto::string_list{raw}}, client_options_.command_timeout);
}
answers blocking_client::data() { return event(proto::data{}, client_options_.command_timeout); }
answers blocking_client::header(std::string_view name, std::string_view value) {
    return event(proto::header{name, value}, client_options_.content_timeout);
}
answers blocking_client::end_of_headers() {
    return event(proto::end_of_headers{}, client_options_.content_timeout);
}
answers blocking_client::body(std::string_view content) {
    if (content.empty()) return answers{{}, false};
    answers last;
    for (std::size_t at = 0; at < content.size(); at += proto::max_body_chunk) {
        last = event(proto::body{content.substr(at, proto::max_body_chunk)}, client_options_.content_timeout);
        if (!last.sent()) return last;
        const auto* v = last.last();
        if (v && !std::holds_alternative<proto::continue_>(*v)) return last;
    }
    return last;
}
eom_result blocking_client::end_of_message() {
    eom_result r;
    const proto::command c = proto::end_of_body{};
    if (client_options_.postfix_macros && !macros_sent_) {
        std::string bytes;
        (void)proto::encode_macro(bytes, 'E', {});
        log("> MACRO stage=\"E\"");
        send_bytes(bytes, clock::now() + client_options_.command_timeout);
    }
    macros_sent_ = false;
    send(c);
    r.all = read_answer(proto::command_kind::end_of_body, client_options_.content_timeout, &r.progress);
    return r;
}
answers blocking_client::unknown(std::string_view line) {
    return event(proto::unknown{line}, client_options_.command_timeout);
}
void blocking_client::abort() {
    send(proto::abort{});
    macros_sent_ = false;
}
void blocking_client::quit() {
    send(proto::quit{});
    close();
}
void blocking_client::quit_new_connection() {
    send(proto::quit_new_connection{});
    macros_sent_ = false;
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
