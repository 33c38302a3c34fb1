// Listeners of the Asio server: listen specs as admins write them for Sendmail and Postfix,
// TCP and UNIX listening sockets, and systemd socket activation without libsystemd (DESIGN §5).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/error_code.hpp>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace cppmilter::asio_server {

/// Where to listen. Build one with parse_listen_spec(), or fill it in by hand.
struct listen_spec {
    enum class kind {
        inet,        ///< TCP over IPv4: host, port
        inet6,       ///< TCP over IPv6 (IPV6_V6ONLY): host, port
        unix_socket, ///< a UNIX stream socket: path
        systemd_fd,  ///< an inherited listening socket: fd
    };
    kind type = kind::inet;
    std::string host;       ///< numeric address ("127.0.0.1", "::1", "0.0.0.0", "::")
    std::uint16_t port = 0; ///< 0: the kernel picks a free port (see listener::port())
    std::string path;       ///< absolute path of a UNIX socket
    int fd = -1;            ///< an open listening socket (fd:N)

    friend bool operator==(const listen_spec&, const listen_spec&) = default;
};

/// The canonical spelling: "inet:127.0.0.1:8891", "inet6:[::1]:8891", "unix:/path", "fd:3".
/// parse_listen_spec() reads it back.
std::string to_string(const listen_spec& spec);
std::ostream& operator<<(std::ostream& os, const listen_spec& spec);

/// Either a listen_spec or a one-line message that says what is wrong with the text, e.g.
/// "inet:abc@127.0.0.1: port 'abc' is not a number 1..65535".
class [[nodiscard]] parse_result {
public:
    parse_result(listen_spec spec) : v_{std::in_place_index<0>, std::move(spec)} {} // NOLINT: implicit by design
    static parse_result failure(std::string message) {
        return parse_result{std::in_place_index<1>, std::move(message)};
    }

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }
    listen_spec& value() & { assert(has_value()); return std::get<0>(v_); }
    const listen_spec& value() const& { assert(has_value()); return std::get<0>(v_); }
    listen_spec&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
    listen_spec& operator*() & { return value(); }
    const listen_spec& operator*() const& { return value(); }
    listen_spec* operator->() { return &value(); }
    const listen_spec* operator->() const { return &value(); }
    const std::string& error() const { assert(!has_value()); return std::get<1>(v_); }

private:
    template <std::size_t I>
    parse_result(std::in_place_index_t<I> i, std::string message) : v_{i, std::move(message)} {}
    std::variant<listen_spec, std::string> v_;
};

/// Why a listener could not be opened. what() is one line that names the listener and the
/// reason, e.g. "unix:/run/milter.sock: another process is listening" or
/// "inet:127.0.0.1:8891: cannot bind: Address already in use".
class listen_error : public std::runtime_error {
public:
    explicit listen_error(const std::string& message, boost::system::error_code code = {})
        : std::runtime_error{message}, code_{code} {}
    /// The system error behind it (bind, chmod, ...), if any.
    const boost::system::error_code& code() const noexcept { return code_; }

private:
    boost::system::error_code code_;
};

/// Parses a listen spec. Accepted forms (prefixes are case-insensitive):
///
/// | form | meaning |
/// |---|---|
/// | `inet:PORT@HOST` | Sendmail style |
/// | `inet:HOST:PORT` | Postfix style |
/// | `inet:PORT` | **127.0.0.1**:PORT. Sendmail's libmilter binds this to all interfaces; a milter that any host can reach is rarely wanted, so write `inet:PORT@0.0.0.0` for that |
/// | `HOST:PORT` | as `inet:HOST:PORT` |
/// | `inet6:PORT@HOST`, `inet6:[HOST]:PORT`, `[HOST]:PORT` | IPv6 only (IPV6_V6ONLY) |
/// | `inet6:PORT` | [::1]:PORT |
/// | `unix:/path`, `local:/path`, `/path` | a UNIX socket; the path must be absolute |
/// | `fd:N` | the already open listening socket N (socket activation by hand) |
///
/// HOST is a numeric address (IPv4 dotted quad for inet, IPv6 for inet6) or `localhost`
/// (127.0.0.1 or ::1). Host names are never resolved: getaddrinfo would load NSS modules,
/// which a static binary cannot do safely. PORT is 0..65535; 0 lets the kernel choose.
/// The host of the result is in canonical form ("::1" for "0:0::1").
parse_result parse_listen_spec(std::string_view text);

struct listener_options {
    /// Permission bits of a UNIX socket file, set with chmod after bind (the umask does not
    /// apply). Must be within 0777. The default lets the owner and the group connect: put the
    /// MTA's user (postfix) in the group, or use 0666 to let everybody connect (accepted
    /// silently: the server logs it).
    unsigned socket_mode = 0660;
    /// The listen() backlog (the kernel caps it at net.core.somaxconn).
    int backlog = boost::asio::socket_base::max_listen_connections;
};

namespace detail {

using protocol = boost::asio::generic::stream_protocol;
using acceptor_type = boost::asio::basic_socket_acceptor<protocol, boost::asio::any_io_executor>;
using socket_type = protocol::socket;

/// The socket file of a UNIX listener we bound, identified by device and inode so that a file
/// another process has put at the same path since is never removed.
class socket_file {
public:
    socket_file() = default;
    socket_file(std::string path, std::uint64_t dev, std::uint64_t ino) noexcept
        : path_{std::move(path)}, dev_{dev}, ino_{ino}, owned_{true} {}
    socket_file(socket_file&& other) noexcept
        : path_{std::move(other.path_)}, dev_{other.dev_}, ino_{other.ino_},
          owned_{std::exchange(other.owned_, false)} {}
    socket_file& operator=(socket_file&& other) noexcept {
        if (this != &other) {
            remove();
            path_ = std::move(other.path_);
            dev_ = other.dev_;
            ino_ = other.ino_;
            owned_ = std::exchange(other.owned_, false);
        }
        return *this;
    }
    ~socket_file() { remove(); }
    /// Unlinks the file if it is still our socket; afterwards owns nothing.
    void remove() noexcept;

private:
    std::string path_;
    std::uint64_t dev_ = 0;
    std::uint64_t ino_ = 0;
    bool owned_ = false;
};

/// Sets FD_CLOEXEC, and TCP_NODELAY if `family` is AF_INET or AF_INET6; on failure closes
/// the socket and sets `ec`.
void prepare_accepted(socket_type& s, int family, boost::system::error_code& ec) noexcept;

/// listener::async_accept: accept (the new socket on `ex`), then prepare_accepted.
struct accept_op {
    acceptor_type& acc;
    boost::asio::any_io_executor ex;
    int family;

    template <class Self>
    void operator()(Self& self) {
        acc.async_accept(ex, std::move(self));
    }
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec, socket_type s) {
        if (!ec) prepare_accepted(s, family, ec);
        self.complete(ec, std::move(s));
    }
};

struct listener_factory; // src/asio/listen.cpp

} // namespace detail

/// A listening socket, TCP or UNIX, that accepts connections as one socket type.
///
/// Listening and accepted sockets are close-on-exec; accepted TCP sockets get TCP_NODELAY
/// (DESIGN §6: without it a reply written as several packets waits for the MTA's delayed
/// ACK). A UNIX socket file created by open_listener() is removed by close() and by the
/// destructor if the file at the path is still that socket; inherited sockets leave their
/// files alone.
class listener {
public:
    using protocol_type = detail::protocol;
    using executor_type = boost::asio::any_io_executor;
    using acceptor_type = detail::acceptor_type;
    /// What async_accept() yields, for TCP and UNIX alike.
    using socket_type = detail::socket_type;

    listener(listener&&) noexcept = default;
    listener& operator=(listener&&) noexcept = default;
    ~listener() { close(); }

    executor_type get_executor() noexcept { return acceptor_.get_executor(); }
    bool is_open() const noexcept { return acceptor_.is_open(); }
    /// AF_INET, AF_INET6 or AF_UNIX.
    int family() const noexcept { return family_; }
    bool is_unix() const noexcept { return family_ == AF_UNIX; }
    /// Where it listens, as a spec that parse_listen_spec() reads back: "inet:127.0.0.1:40123"
    /// (with the port the kernel chose for port 0), "inet6:[::1]:8891", "unix:/path".
    const std::string& local_endpoint_string() const noexcept { return name_; }
    /// The bound TCP port; 0 for UNIX sockets.
    std::uint16_t port() const noexcept { return port_; }
    /// The native listening socket (still owned by the listener).
    int native_handle() noexcept { return acceptor_.native_handle(); }
    /// The underlying acceptor, for options this class does not cover.
    acceptor_type& acceptor() noexcept { return acceptor_; }

    /// Accepts one connection. Signature: void(boost::system::error_code, socket_type).
    /// Works with any completion token (callbacks, boost::asio::use_awaitable,
    /// as_tuple(use_awaitable), ...). Errors such as EMFILE or ECONNABORTED concern one accept
    /// only: the listener stays usable. Do not move or destroy the listener while an accept is
    /// pending (close() or cancel() it first and let the accept complete).
    template <class CompletionToken>
    auto async_accept(CompletionToken&& token) {
        return async_accept(get_executor(), std::forward<CompletionToken>(token));
    }
    /// The same, with the accepted socket bound to `ex` (e.g. another thread's io_context).
    template <class CompletionToken>
    auto async_accept(const executor_type& ex, CompletionToken&& token) {
        return boost::asio::async_compose<CompletionToken,
                                          void(boost::system::error_code, socket_type)>(
            detail::accept_op{acceptor_, ex, family_}, token, acceptor_, ex);
    }
    template <class CompletionToken>
    auto async_accept(boost::asio::io_context& context, CompletionToken&& token) {
        return async_accept(executor_type{context.get_executor()}, std::forward<CompletionToken>(token));
    }

    /// Pending accepts complete with boost::asio::error::operation_aborted.
    void cancel() noexcept;
    /// Stops listening (pending accepts are aborted) and removes the UNIX socket file this
    /// listener created, if it is still there. Idempotent.
    void close() noexcept;

private:
    friend struct detail::listener_factory;

    listener(acceptor_type acceptor, int family, std::string name, std::uint16_t port,
             detail::socket_file file) noexcept
        : file_{std::move(file)}, acceptor_{std::move(acceptor)}, family_{family},
          name_{std::move(name)}, port_{port} {}

    // Declared before acceptor_, so destroyed after it: the socket is closed first.
    detail::socket_file file_;
    acceptor_type acceptor_;
    int family_ = 0;
    std::string name_;
    std::uint16_t port_ = 0;
};

/// Opens a listener for `spec`: binds and listens (inet, inet6, unix_socket), or takes over
/// the open listening socket spec.fd (systemd_fd: the listener then owns it). Throws
/// listen_error.
///
/// TCP: SO_REUSEADDR; IPv6 sockets are IPV6_V6ONLY. UNIX: if a socket file is in the way,
/// open_listener() connects to it: refused means its process is gone, and the file is
/// removed; accepted means another process is listening (it sees one connection that closes
/// at once), which is an error, as is a file that is not a socket; neither is ever removed.
/// The new file gets options.socket_mode; it is bound and listening under a temporary name in
/// the same directory and then renamed to `path`, so the file never exists while a connect
/// would be refused.
listener open_listener(const listener::executor_type& ex, const listen_spec& spec,
                       const listener_options& options = {});
inline listener open_listener(boost::asio::io_context& io, const listen_spec& spec,
                              const listener_options& options = {}) {
    return open_listener(listener::executor_type{io.get_executor()}, spec, options);
}

/// systemd socket activation (sd_listen_fds(3) without libsystemd): if LISTEN_PID is this
/// process, wraps the LISTEN_FDS sockets that start at fd 3, in order, and makes them
/// close-on-exec. Each must be a listening stream socket (AF_INET, AF_INET6 or AF_UNIX), else
/// listen_error is thrown and none is taken over. LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES
/// are removed from the environment in every case, so that child processes do not see them.
/// Returns no listeners if LISTEN_PID is unset or names another process. Reads and changes
/// the environment: call it before starting threads.
std::vector<listener> inherited_listeners(const listener::executor_type& ex);
inline std::vector<listener> inherited_listeners(boost::asio::io_context& io) {
    return inherited_listeners(listener::executor_type{io.get_executor()});
}

} // namespace cppmilter::asio_server
