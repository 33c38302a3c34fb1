// A small blocking MTA for tests: connects to a milter over TCP (v4, v6) or a UNIX socket,
// negotiates, sends commands and reads the answers, through the protocol core's encoder and
// reply_decoder. Every wait is bounded by the client's timeout (10 s unless told otherwise).
//
//     mta_client mta;
//     mta.connect("inet:127.0.0.1:40123");
//     mta.negotiate();
//     mta.command(proto::mail{"<a@example.test>", {}});  // {"CONTINUE"}
//     mta.end_of_message();                              // {"ADDHEADER name=...", "CONTINUE"}
//
// Answers come back as the one-line form of proto::reply (`CONTINUE`,
// `REPLYCODE text="550 5.7.1 no"`), which makes test failures readable.
//
// The socket is an Asio socket in non-blocking mode, and every wait is a poll() with a
// deadline: Asio's synchronous operations wait without limit (SO_RCVTIMEO does not bound them,
// they poll again after EAGAIN), and a test must never hang.
#pragma once

#include <cppmilter/proto/decoder.hpp>
#include <cppmilter/proto/encoder.hpp>
#include <cppmilter/proto/session.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

namespace cppmilter::test {

/// What Postfix 3.x offers: version 6, every action, every protocol bit.
inline constexpr proto::optneg full_offer{6, proto::all_actions, proto::all_protocol};

/// The filter's OPTNEG reply with its own copy of the macro lists (proto::optneg_reply only
/// views them).
struct owned_optneg_reply {
    std::uint32_t version = 0;
    proto::action_set actions{};
    proto::protocol_set protocol{};
    std::array<std::optional<std::string>, proto::macro_stage_count> macros{};
};

/// Connecting failed, the filter did not answer in time, closed the connection, or wrote
/// something undecodable.
struct mta_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// "A; B; C": several answers on one line.
inline std::string str(const std::vector<std::string>& replies) {
    std::string out;
    for (const auto& r : replies) out += (out.empty() ? "" : "; ") + r;
    return out;
}

class mta_client {
public:
    using clock = std::chrono::steady_clock;

    explicit mta_client(std::chrono::milliseconds timeout = std::chrono::seconds{10}) : timeout_{timeout} {}
    mta_client(const mta_client&) = delete;
    mta_client& operator=(const mta_client&) = delete;
    mta_client(mta_client&&) = default;
    mta_client& operator=(mta_client&&) = default;

    /// Connects to "inet:HOST:PORT", "inet6:[HOST]:PORT" or "unix:/path" (the forms the
    /// server's start() returns). Throws mta_error.
    void connect(std::string_view spec) {
        if (auto ec = try_connect(spec)) throw mta_error{std::string{spec} + ": cannot connect: " + ec.message()};
    }

    /// The same, but returns the error (refused, no such file, timed out) instead of throwing.
    boost::system::error_code try_connect(std::string_view spec) {
        close();
        namespace asio = boost::asio;
        using boost::system::error_code;
        asio::generic::stream_protocol::endpoint ep;
        if (spec.starts_with("unix:") || spec.starts_with("local:")) {
            ep = asio::local::stream_protocol::endpoint{std::string{spec.substr(spec.find(':') + 1)}};
        } else if (spec.starts_with("inet:") || spec.starts_with("inet6:")) {
            auto rest = spec.substr(spec.find(':') + 1);
            const auto colon = rest.rfind(':');
            if (colon == std::string_view::npos) throw mta_error{std::string{spec} + ": no port"};
            auto host = rest.substr(0, colon);
            if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
            const auto port_text = rest.substr(colon + 1);
            std::uint16_t port = 0;
            auto [end, perr] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
            if (perr != std::errc{} || end != port_text.data() + port_text.size())
                throw mta_error{std::string{spec} + ": bad port"};
            ep = asio::ip::tcp::endpoint{asio::ip::make_address(std::string{host}), port};
        } else {
            throw mta_error{std::string{spec} + ": not inet:, inet6: or unix:"};
        }

        auto fail = [this](error_code ec) {
            close();
            return ec;
        };
        error_code ec;
        socket_.open(ep.protocol(), ec);
        if (!ec) socket_.non_blocking(true, ec);
        if (ec) return fail(ec);
        const int fd = socket_.native_handle();
        if (ep.protocol().family() != AF_UNIX) {
            int one = 1; // one packet per command, without waiting for the delayed ACK
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        const auto deadline = clock::now() + timeout_;
        // Asio's connect() would wait without limit: connect by hand, then poll with a deadline.
        while (::connect(fd, static_cast<const sockaddr*>(ep.data()), static_cast<socklen_t>(ep.size())) != 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN && clock::now() < deadline) { // a UNIX listener's backlog is full
                std::this_thread::sleep_for(std::chrono::milliseconds{1});
                continue;
            }
            if (errno != EINPROGRESS) return fail(error_code{errno, boost::system::system_category()});
            if (!wait_for(POLLOUT, deadline)) return fail(asio::error::timed_out);
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) return fail(error_code{err, boost::system::system_category()});
            break;
        }
        return {};
    }

    /// Sends OPTNEG and returns the filter's reply; later commands honour what was agreed.
    owned_optneg_reply negotiate(const proto::optneg& offer = full_offer) {
        send(offer);
        auto reply = next_reply(clock::now() + timeout_);
        const auto* o = std::get_if<proto::optneg_reply>(&reply);
        if (!o) throw mta_error{"OPTNEG answered with " + to_string(reply)};
        owned_optneg_reply copy{o->version, o->actions, o->protocol, {}};
        for (std::size_t i = 0; i < o->macros.size(); ++i)
            if (o->macros[i]) copy.macros[i] = std::string{*o->macros[i]};
        options_ = {o->version, o->actions, o->protocol};
        return copy;
    }
    /// What negotiate() agreed (the defaults before: version 6, every command answered).
    const proto::negotiated_options& options() const noexcept { return options_; }

    /// Encodes and writes one command; reads nothing.
    void send(const proto::command& c) {
        std::string bytes;
        if (auto ok = proto::encode(bytes, c); !ok) throw mta_error{"cannot encode: " + ok.error().message()};
        send_raw(bytes);
    }

    /// Writes bytes as they are (malformed packets, partial packets, garbage).
    void send_raw(std::string_view bytes) {
        const auto deadline = clock::now() + timeout_;
        while (!bytes.empty()) {
            boost::system::error_code ec;
            const std::size_t n = socket_.write_some(boost::asio::buffer(bytes.data(), bytes.size()), ec);
            if (ec == boost::asio::error::would_block) {
                if (!wait_for(POLLOUT, deadline)) throw mta_error{"the filter did not read within the timeout"};
                continue;
            }
            if (ec) throw mta_error{"write failed: " + ec.message()};
            bytes.remove_prefix(n);
        }
    }

    /// Sends `c` as an MTA would, and returns the answers: nothing is sent for a command the
    /// filter switched off (NO* bit), nothing read where it owes no answer (NR* bit, MACRO,
    /// ABORT, QUIT); otherwise the replies up to and including the verdict.
    std::vector<std::string> command(const proto::command& c) {
        const auto k = proto::kind_of(c);
        if (!options_.sends(k)) return {};
        send(c);
        if (!options_.expects_answer(k)) return {};
        return receive();
    }

    /// End of message: the modifications in the order received, then the verdict.
    std::vector<std::string> end_of_message() { return command(proto::end_of_body{}); }

    /// Reads replies up to and including the next verdict (or OPTNEG reply). PROGRESS is not
    /// returned, only counted (progress_count()).
    std::vector<std::string> receive() {
        const auto deadline = clock::now() + timeout_;
        std::vector<std::string> out;
        for (;;) {
            auto r = next_reply(deadline);
            const auto k = proto::kind_of(r);
            if (k == proto::reply_kind::progress) {
                ++progress_;
                continue;
            }
            out.push_back(to_string(r));
            if (proto::is_verdict(k) || k == proto::reply_kind::optneg) return out;
        }
    }

    /// PROGRESS replies seen so far.
    std::size_t progress_count() const noexcept { return progress_; }

    /// Waits until the filter closes the connection (EOF or reset): true; false if it is still
    /// open after `limit`. Anything the filter writes meanwhile is read and dropped.
    bool read_eof(std::chrono::milliseconds limit) {
        if (!socket_.is_open()) return true;
        const auto deadline = clock::now() + limit;
        std::array<char, 4096> scratch;
        for (;;) {
            boost::system::error_code ec;
            socket_.read_some(boost::asio::buffer(scratch), ec);
            if (ec == boost::asio::error::would_block) {
                if (!wait_for(POLLIN, deadline)) return false;
                continue;
            }
            if (ec) return true; // eof, connection_reset, ...
        }
    }

    bool is_open() const noexcept { return socket_.is_open(); }
    /// Closes the socket (as an MTA that vanishes: no QUIT).
    void close() noexcept {
        boost::system::error_code ignored;
        socket_.close(ignored);
        decoder_ = proto::reply_decoder{};
        options_ = {};
    }

private:
    static boost::asio::io_context& context() {
        static boost::asio::io_context io{1}; // never run: the sockets only do synchronous work
        return io;
    }

    static std::string to_string(const proto::reply& r) {
        std::ostringstream os;
        os << r;
        return os.str();
    }

    /// Waits for `events` on the socket until `deadline`; false on timeout.
    bool wait_for(short events, clock::time_point deadline) {
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
            if (left <= 0) return false;
            pollfd p{socket_.native_handle(), events, 0};
            const int n = ::poll(&p, 1, static_cast<int>(left));
            if (n > 0) return true;
            if (n < 0 && errno != EINTR) throw mta_error{"poll failed"};
        }
    }

    /// The next reply; its views are valid until the next read.
    proto::reply next_reply(clock::time_point deadline) {
        for (;;) {
            if (auto r = decoder_.next()) {
                if (!*r) throw mta_error{"the filter wrote a malformed reply: " + r->error().message()};
                return r->value();
            }
            auto room = decoder_.prepare(4096);
            boost::system::error_code ec;
            const std::size_t n = socket_.read_some(boost::asio::buffer(room.data(), room.size()), ec);
            if (ec == boost::asio::error::would_block) {
                if (!wait_for(POLLIN, deadline)) throw mta_error{"no answer from the filter within the timeout"};
                continue;
            }
            if (ec == boost::asio::error::eof) throw mta_error{"the filter closed the connection"};
            if (ec) throw mta_error{"read failed: " + ec.message()};
            decoder_.commit(n);
        }
    }

    std::chrono::milliseconds timeout_;
    boost::asio::generic::stream_protocol::socket socket_{context()};
    proto::reply_decoder decoder_;
    proto::negotiated_options options_{};
    std::size_t progress_ = 0;
};

} // namespace cppmilter::test
