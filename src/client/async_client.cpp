// The coroutine MTA-side client: client_core's bytes and checks over an Asio socket.
#include <cppmilter/client/async_client.hpp>

#include <cppmilter/asio/listen.hpp>
#include <cppmilter/client/detail/endpoint.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <utility>
#include <variant>

#include <sys/un.h>

namespace cppmilter::client {
namespace net = boost::asio;

namespace {

constexpr auto with_error = net::as_tuple(net::use_awaitable_t<async_client::executor_type>{});

std::string raw_args(const std::vector<std::string>& esmtp_args) {
    std::string raw;
    for (const auto& a : esmtp_args) raw.append(a).push_back('\0');
    return raw;
}

} // namespace

namespace detail {

milter_endpoint endpoint_for(std::string_view spec_view) {
    const std::string spec{spec_view};
    auto parsed = asio_server::parse_listen_spec(spec);
    if (!parsed) throw client_error{parsed.error()};
    const auto& where = *parsed;
    using kind = asio_server::listen_spec::kind;
    if (where.type == kind::inet || where.type == kind::inet6) {
        boost::system::error_code ec;
        const auto address = net::ip::make_address(where.host, ec);
        if (ec || address.is_v6() != (where.type == kind::inet6))
            throw client_error{spec + ": not a numeric " + (where.type == kind::inet ? "IPv4" : "IPv6") + " address"};
        if (where.port == 0) throw client_error{spec + ": port 0"};
        return {net::ip::tcp::endpoint{address, where.port}, true};
    }
    if (where.type == kind::unix_socket) {
        if (where.path.size() >= sizeof(sockaddr_un::sun_path)) throw client_error{spec + ": path too long"};
        return {net::local::stream_protocol::endpoint{where.path}, false};
    }
    throw client_error{spec + ": cannot connect to an fd: spec"};
}

} // namespace detail

async_client::async_client(executor_type executor, client_options options)
    : client_core{options}, socket_{executor}, deadline_{socket_} {}

async_client::~async_client() { close(); }

void async_client::close() noexcept {
    boost::system::error_code ignored;
    socket_.close(ignored);
}

void async_client::fail(const std::string& what) {
    close();
    throw client_error{what};
}

// ---------------------------------------------------------------------------------------------
// I/O

async_client::awaitable<void> async_client::connect(std::string_view spec) { return connect_to(std::string{spec}); }

async_client::awaitable<void> async_client::connect_to(std::string spec) {
    close();
    reset();
    const auto where = detail::endpoint_for(spec);
    deadline_->start(options().command_timeout);
    auto [ec] = co_await socket_.async_connect(where.endpoint, with_error);
    if (deadline_->expired()) fail(spec + ": cannot connect: timed out");
    if (ec) fail(spec + ": cannot connect: " + ec.message());
    if (where.tcp) { // one packet per command, without waiting for the delayed ACK
        boost::system::error_code ignored;
        socket_.set_option(net::ip::tcp::no_delay{true}, ignored);
    }
}

async_client::awaitable<void> async_client::write(std::string_view bytes) {
    if (!socket_.is_open()) throw client_error{"not connected"};
    deadline_->start(options().command_timeout);
    auto [ec, n] = co_await net::async_write(socket_, net::buffer(bytes.data(), bytes.size()), with_error);
    if (deadline_->expired()) fail("the milter did not read within the timeout");
    if (ec) fail("write failed: " + ec.message());
}

async_client::awaitable<proto::packet> async_client::next_packet() {
    for (;;) {
        try {
            if (auto p = buffered_packet()) co_return *p;
        } catch (const client_error&) {
            close();
            throw;
        }
        auto room = receive_buffer();
        auto [ec, n] = co_await socket_.async_read_some(net::buffer(room.data(), room.size()), with_error);
        if (deadline_->expired()) fail("no answer from the milter within the timeout");
        if (ec == net::error::eof) fail("the milter closed the connection");
        if (ec) fail("read failed: " + ec.message());
        received(n);
    }
}

async_client::awaitable<negotiation> async_client::negotiate() {
    std::string bytes;
    append_optneg(bytes);
    return exchange_optneg(std::move(bytes));
}

async_client::awaitable<negotiation> async_client::exchange_optneg(std::string bytes) {
    co_await write(bytes);
    deadline_->start(options().command_timeout);
    auto p = co_await next_packet();
    try {
        co_return accept_optneg(p);
    } catch (const client_error&) {
        close();
        throw;
    }
}

async_client::awaitable<answers> async_client::read_answer(proto::command_kind k, std::size_t* progress) {
    const auto timeout = timeout_for(k);
    deadline_->start(timeout);
    std::string collected;
    for (;;) {
        auto p = co_await next_packet();
        reply_step step{};
        try {
            step = accept_reply(k, p, collected);
        } catch (const client_error&) {
            close();
            throw;
        }
        if (step == reply_step::verdict) break;
        if (step == reply_step::progress) {
            if (progress) ++*progress;
            deadline_->start(timeout);
        }
    }
    co_return answers{collected};
}

async_client::awaitable<answers> async_client::exchange(std::string bytes, proto::command_kind k, bool sent) {
    if (!sent) co_return answers{{}, false};
    co_await write(bytes);
    if (!expects_answer(k)) co_return answers{};
    co_return co_await read_answer(k, nullptr);
}

async_client::awaitable<void> async_client::send_only(std::string bytes, bool then_close) {
    co_await write(bytes);
    if (then_close) close();
}

// ---------------------------------------------------------------------------------------------
// The calls: each encodes before it returns, so that the awaitable owns its bytes.

async_client::awaitable<void> async_client::macros(char stage, const macro_list& pairs) {
    std::string bytes;
    append_macros(bytes, stage, pairs);
    return send_only(std::move(bytes), false);
}

async_client::awaitable<answers> async_client::event(const proto::command& c) {
    std::string bytes;
    const bool sent = append_event(bytes, c);
    return exchange(std::move(bytes), proto::kind_of(c), sent);
}

async_client::awaitable<answers> async_client::connect_info(std::string_view hostname, proto::address_family family,
                                                            std::uint16_t port, std::string_view address) {
    return event(proto::connect{hostname, family, port, address});
}
async_client::awaitable<answers> async_client::helo(std::string_view name) { return event(proto::helo{name}); }
async_client::awaitable<answers> async_client::mail_from(std::string_view address,
                                                         const std::vector<std::string>& esmtp_args) {
    const auto raw = raw_args(esmtp_args);
    return event(proto::mail{address, proto::string_list{raw}});
}
async_client::awaitable<answers> async_client::rcpt(std::string_view address, const std::vector<std::string>& esmtp_args) {
    const auto raw = raw_args(esmtp_args);
    return event(proto::rcpt{address, proto::string_list{raw}});
}
async_client::awaitable<answers> async_client::data() { return event(proto::data{}); }
async_client::awaitable<answers> async_client::header(std::string_view name, std::string_view value) {
    return event(proto::header{name, value});
}
async_client::awaitable<answers> async_client::end_of_headers() { return event(proto::end_of_headers{}); }
async_client::awaitable<answers> async_client::unknown(std::string_view line) { return event(proto::unknown{line}); }

async_client::awaitable<answers> async_client::body(std::string_view content) { return send_body(std::string{content}); }

async_client::awaitable<answers> async_client::send_body(std::string content) {
    if (content.empty()) co_return answers{{}, false};
    answers last;
    for (std::size_t at = 0; at < content.size(); at += proto::max_body_chunk) {
        std::string bytes;
        const bool sent = append_event(bytes, proto::body{std::string_view{content}.substr(at, proto::max_body_chunk)});
        last = co_await exchange(std::move(bytes), proto::command_kind::body, sent);
        if (!last.sent()) break;
        const auto* v = last.last();
        if (v && !std::holds_alternative<proto::continue_>(*v)) break;
    }
    co_return last;
}

async_client::awaitable<eom_result> async_client::end_of_message() {
    std::string bytes;
    (void)append_event(bytes, proto::end_of_body{}); // never switched off
    return exchange_eom(std::move(bytes));
}

async_client::awaitable<eom_result> async_client::exchange_eom(std::string bytes) {
    co_await write(bytes);
    eom_result r;
    r.all = co_await read_answer(proto::command_kind::end_of_body, &r.progress);
    co_return r;
}

async_client::awaitable<void> async_client::abort() {
    std::string bytes;
    append_command(bytes, proto::abort{});
    return send_only(std::move(bytes), false);
}
async_client::awaitable<void> async_client::quit() {
    std::string bytes;
    append_command(bytes, proto::quit{});
    return send_only(std::move(bytes), true);
}
async_client::awaitable<void> async_client::quit_new_connection() {
    std::string bytes;
    append_command(bytes, proto::quit_new_connection{});
    return send_only(std::move(bytes), false);
}

} // namespace cppmilter::client
