#include <cppmilter/asio/listen.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/system_category.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstddef>
#include <charconv>
#include <cstdio>
#include <stdio.h> // renameat2
#include <cstdlib>
#include <cstring>
#include <optional>
#include <ostream>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

namespace cppmilter::asio_server {

namespace {

using kind = listen_spec::kind;
using boost::system::error_code;

constexpr std::size_t max_unix_path = sizeof(sockaddr_un{}.sun_path) - 1; // room for the NUL

// ---------------------------------------------------------------------------------------------
// Messages

bool is_control(char c) noexcept { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// Control characters as \xNN, so that a message stays one printable line whatever the input.
std::string printable(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (is_control(c)) {
            char buf[5];
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

// "WHERE: WHAT[: strerror]", one printable line.
std::string message(std::string_view where, std::string_view what, error_code code = {}) {
    std::string m{where};
    m += ": ";
    m += what;
    if (code) {
        m += ": ";
        m += code.message();
    }
    return printable(m);
}

[[noreturn]] void fail(std::string_view where, std::string_view what, error_code code = {}) {
    throw listen_error{message(where, what, code), code};
}

error_code last_error() noexcept { return {errno, boost::system::system_category()}; }

std::string quoted(std::string_view s) {
    std::string out{"'"};
    out += s;
    out += '\'';
    return out;
}

std::string mode_string(unsigned mode) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0%o", mode);
    return buf;
}

// ---------------------------------------------------------------------------------------------
// Parsing

bool iequals(std::string_view a, std::string_view b) noexcept {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        return lower(x) == lower(y);
    });
}

// A whole decimal number, no sign, no spaces.
template <class T>
bool parse_number(std::string_view s, T& out) noexcept {
    if (s.empty() || s.front() < '0' || s.front() > '9') return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size();
}

// Thrown inside the parser only, caught by parse_listen_spec().
struct bad_spec {
    std::string message;
};

struct parser {
    std::string_view text; // the whole spec, for messages

    [[noreturn]] void failure(std::string_view what) const { throw bad_spec{message(text, what)}; }

    std::uint16_t port(std::string_view s) const {
        if (s.empty()) failure("port is missing");
        std::uint16_t p = 0;
        if (!parse_number(s, p)) failure("port " + quoted(s) + " is not a number 1..65535");
        return p;
    }

    // A numeric address of the given family, or localhost; canonical text.
    std::string host(std::string_view s, bool v6) const {
        if (s.empty()) failure("host is missing");
        if (iequals(s, "localhost")) return v6 ? "::1" : "127.0.0.1";
        error_code ec;
        const auto addr = boost::asio::ip::make_address(std::string{s}, ec);
        if (ec) {
            failure("host " + quoted(s) +
                    " is not a numeric address or localhost (host names are not resolved)");
        }
        if (addr.is_v6() && !v6) failure("host " + quoted(s) + " is an IPv6 address (use inet6:)");
        if (addr.is_v4() && v6) failure("host " + quoted(s) + " is an IPv4 address (use inet:)");
        return addr.to_string();
    }

    listen_spec inet(std::string_view host_text, std::string_view port_text, bool v6) const {
        listen_spec spec;
        spec.type = v6 ? kind::inet6 : kind::inet;
        spec.port = port(port_text);
        spec.host = host(host_text, v6);
        return spec;
    }

    // "[HOST]:PORT"
    listen_spec bracketed(std::string_view s) const {
        const auto close = s.find(']');
        if (close == std::string_view::npos) failure("missing ']' after the IPv6 address");
        const auto rest = s.substr(close + 1);
        if (rest.empty()) failure("port is missing");
        if (rest.front() != ':') failure("expected ':PORT' after ']'");
        return inet(s.substr(1, close - 1), rest.substr(1), true);
    }

    // After "inet:" or "inet6:".
    listen_spec inet(std::string_view s, bool v6) const {
        if (const auto at = s.find('@'); at != std::string_view::npos)
            return inet(s.substr(at + 1), s.substr(0, at), v6);
        if (!s.empty() && s.front() == '[') {
            if (!v6) failure("brackets are for IPv6 addresses (use inet6:[HOST]:PORT)");
            return bracketed(s);
        }
        const auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return inet(v6 ? "::1" : "127.0.0.1", s, v6);
        const auto host_text = s.substr(0, colon);
        if (v6 && host_text.find(':') != std::string_view::npos)
            failure("write the IPv6 address in brackets: inet6:[HOST]:PORT");
        return inet(host_text, s.substr(colon + 1), v6);
    }

    listen_spec path(std::string_view s) const {
        if (s.empty()) failure("path is missing");
        if (s.front() != '/') failure("path " + quoted(s) + " is not absolute");
        if (s.size() > max_unix_path) {
            failure("path is " + std::to_string(s.size()) +
                    " bytes long; a UNIX socket path holds at most " + std::to_string(max_unix_path));
        }
        listen_spec spec;
        spec.type = kind::unix_socket;
        spec.path = std::string{s};
        return spec;
    }

    listen_spec fd(std::string_view s) const {
        if (s.empty()) failure("file descriptor number is missing");
        listen_spec spec;
        spec.type = kind::systemd_fd;
        if (!parse_number(s, spec.fd)) failure("fd " + quoted(s) + " is not a file descriptor number");
        return spec;
    }

    listen_spec parse() const {
        if (text.empty()) throw bad_spec{"empty listen spec"};
        if (std::any_of(text.begin(), text.end(), is_control)) failure("listen spec holds a control character");
        if (text.front() == '/') return path(text);
        if (text.front() == '[') return bracketed(text);
        const auto colon = text.find(':');
        if (colon == std::string_view::npos) {
            failure("not a listen spec (expected inet:PORT@HOST, inet:HOST:PORT, "
                    "inet6:PORT@HOST, inet6:[HOST]:PORT, unix:/path or fd:N)");
        }
        const auto prefix = text.substr(0, colon);
        const auto rest = text.substr(colon + 1);
        if (iequals(prefix, "inet")) return inet(rest, false);
        if (iequals(prefix, "inet6")) return inet(rest, true);
        if (iequals(prefix, "unix") || iequals(prefix, "local")) return path(rest);
        if (iequals(prefix, "fd")) return fd(rest);
        if (rest.find(':') != std::string_view::npos) failure("write the IPv6 address in brackets: [HOST]:PORT");
        if (prefix.find('.') != std::string_view::npos || iequals(prefix, "localhost"))
            return inet(prefix, rest, false); // HOST:PORT
        failure("unknown kind " + quoted(prefix) +
                " (expected inet:, inet6:, unix:, local:, fd:, /path or HOST:PORT)");
    }
};

// ---------------------------------------------------------------------------------------------
// Sockets

class unique_fd {
public:
    explicit unique_fd(int fd = -1) noexcept : fd_{fd} {}
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

// "inet:127.0.0.1:8891", "inet6:[::1]:8891", "unix:/path" from getsockname; port too.
std::string socket_name(int fd, std::uint16_t& port) {
    port = 0;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
    switch (ss.ss_family) {
    case AF_INET: {
        sockaddr_in sin{};
        std::memcpy(&sin, &ss, sizeof sin);
        port = ntohs(sin.sin_port);
        boost::asio::ip::address_v4::bytes_type b{};
        std::memcpy(b.data(), &sin.sin_addr, b.size());
        return "inet:" + boost::asio::ip::address_v4{b}.to_string() + ":" + std::to_string(port);
    }
    case AF_INET6: {
        sockaddr_in6 sin6{};
        std::memcpy(&sin6, &ss, sizeof sin6);
        port = ntohs(sin6.sin6_port);
        boost::asio::ip::address_v6::bytes_type b{};
        std::memcpy(b.data(), &sin6.sin6_addr, b.size());
        const boost::asio::ip::address_v6 addr{b, sin6.sin6_scope_id};
        return "inet6:[" + addr.to_string() + "]:" + std::to_string(port);
    }
    case AF_UNIX: {
        sockaddr_un addr{};
        std::memcpy(&addr, &ss, std::min<std::size_t>(len, sizeof addr));
        const std::size_t offset = offsetof(sockaddr_un, sun_path);
        if (len <= offset) return "unix:(unnamed)";
        const std::size_t n = len - offset;
        if (addr.sun_path[0] == '\0') // Linux abstract namespace
            return "unix:@" + printable(std::string_view{addr.sun_path + 1, n - 1});
        return "unix:" + std::string{addr.sun_path, ::strnlen(addr.sun_path, n)};
    }
    default:
        return "?";
    }
}

int get_int_option(int fd, int level, int name, int& value) noexcept {
    socklen_t len = sizeof value;
    return ::getsockopt(fd, level, name, &value, &len);
}

error_code set_int_option(int fd, int level, int name, int value) noexcept {
    if (::setsockopt(fd, level, name, &value, sizeof value) != 0) return last_error();
    return {};
}

error_code set_cloexec(int fd) noexcept {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0) return last_error();
    if (!(flags & FD_CLOEXEC) && ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) return last_error();
    return {};
}

} // namespace

namespace detail {

struct listener_factory {
    // Wraps a bound, listening socket, taking it over from `fd`; `name` empty: from getsockname.
    static listener make(const listener::executor_type& ex, std::string_view where, unique_fd& fd,
                         int family, int protocol, socket_file file, std::string name = {}) {
        std::uint16_t port = 0;
        if (name.empty()) name = socket_name(fd.get(), port);
        listener::acceptor_type acc{ex};
        error_code ec;
        acc.assign(listener::protocol_type{family, protocol}, fd.get(), ec);
        if (ec) fail(where, "cannot register the socket", ec);
        fd.release();
        return listener{std::move(acc), family, std::move(name), port, std::move(file)};
    }

    static listener open_tcp(const listener::executor_type& ex, const listen_spec& spec,
                             const listener_options& options) {
        const std::string where = to_string(spec);
        const bool v6 = spec.type == kind::inet6;
        error_code ec;
        const auto addr = boost::asio::ip::make_address(spec.host, ec);
        if (ec || addr.is_v6() != v6)
            fail(where, "host " + quoted(spec.host) + " is not a numeric " + (v6 ? "IPv6" : "IPv4") + " address");
        const boost::asio::ip::tcp::endpoint endpoint{addr, spec.port};
        const int family = v6 ? AF_INET6 : AF_INET;
        unique_fd fd{::socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP)};
        if (fd.get() < 0) fail(where, "cannot create a socket", last_error());
        if (auto e = set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1)) fail(where, "cannot set SO_REUSEADDR", e);
        if (v6) {
            if (auto e = set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1)) fail(where, "cannot set IPV6_V6ONLY", e);
        }
        if (::bind(fd.get(), endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0)
            fail(where, "cannot bind", last_error());
        if (::listen(fd.get(), options.backlog) != 0) fail(where, "cannot listen", last_error());
        return make(ex, where, fd, family, IPPROTO_TCP, {});
    }

    static listener open_unix(const listener::executor_type& ex, const listen_spec& spec,
                              const listener_options& options) {
        const std::string where = to_string(spec);
        const std::string& path = spec.path;
        if (path.empty() || path.front() != '/') fail(where, "path is not absolute");
        if (path.size() > max_unix_path || path.find('\0') != std::string::npos)
            fail(where, "path does not fit a UNIX socket address");
        if (options.socket_mode > 0777)
            fail(where, "socket mode " + mode_string(options.socket_mode) + " is not within 0777");
        const auto mode = static_cast<mode_t>(options.socket_mode);

        const sockaddr_un addr = unix_address(path);
        remove_stale(where, path, addr, unix_address_length(path));

        unique_fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
        if (fd.get() < 0) fail(where, "cannot create a socket", last_error());
        // Linux creates the file with the socket inode's mode minus the umask: with this it is
        // never wider than `mode`, not even between bind and chmod. Elsewhere a harmless no-op.
        (void)::fchmod(fd.get(), mode);
        // bind() creates the file, but a connect is refused until listen(): the socket gets
        // ready under a temporary name and is renamed into place, so that whoever finds the
        // file can connect.
        const std::string temporary = bind_temporary(where, fd.get(), path);
        struct stat st{};
        if (::lstat(temporary.c_str(), &st) != 0) {
            const auto code = last_error();
            ::unlink(temporary.c_str());
            fail(where, "cannot stat the new socket file", code);
        }
        // From here on the file is ours, and removed again if anything fails.
        const auto dev = static_cast<std::uint64_t>(st.st_dev), ino = static_cast<std::uint64_t>(st.st_ino);
        socket_file file{temporary, dev, ino};
        if (::chmod(temporary.c_str(), mode) != 0)
            fail(where, "cannot set mode " + mode_string(options.socket_mode), last_error());
        if (::listen(fd.get(), options.backlog) != 0) fail(where, "cannot listen", last_error());
        if (rename_no_replace(temporary, path) != 0) {
            if (errno == EEXIST) fail(where, "another process created the path meanwhile (not removed)");
            fail(where, "cannot rename the socket file into place", last_error());
        }
        file = socket_file{path, dev, ino}; // the temporary name is gone; its removal finds nothing
        // getsockname() would name the temporary file.
        return make(ex, where, fd, AF_UNIX, 0, std::move(file), "unix:" + path);
    }

    static sockaddr_un unix_address(const std::string& path) noexcept {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.data(), std::min(path.size(), max_unix_path));
        return addr;
    }

    static socklen_t unix_address_length(const std::string& path) noexcept {
        return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    }

    // Binds `fd` to an unused name in the directory of `path` and returns that name.
    static std::string bind_temporary(std::string_view where, int fd, const std::string& path) {
        static std::atomic<std::uint32_t> counter{0};
        const std::string directory = path.substr(0, path.rfind('/'));
        for (int attempt = 0; attempt < 100; ++attempt) {
            const auto unique = static_cast<std::uint32_t>(::getpid()) * 2654435761u ^ counter.fetch_add(1) * 40503u ^
                                static_cast<std::uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
            char name[16];
            std::snprintf(name, sizeof name, "/.~%08x", static_cast<unsigned>(unique));
            const std::string temporary = directory + name;
            if (temporary.size() > max_unix_path) {
                fail(where, "the directory's path leaves no room for a temporary socket name (" +
                                std::to_string(max_unix_path - (temporary.size() - directory.size())) + " bytes at most)");
            }
            const sockaddr_un addr = unix_address(temporary);
            if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), unix_address_length(temporary)) == 0) return temporary;
            if (errno != EADDRINUSE) fail(where, "cannot bind", last_error());
        }
        fail(where, "cannot bind: no unused temporary name in the directory");
    }

    // rename() that fails with EEXIST instead of replacing what another process put at `to`
    // since remove_stale(); plain rename() where the filesystem cannot refuse to replace.
    static int rename_no_replace(const std::string& from, const std::string& to) noexcept {
        if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
        if (errno != EINVAL && errno != ENOSYS) return -1;
        return ::rename(from.c_str(), to.c_str());
    }

    // Removes a socket file nobody listens on any more; anything else at `path` stays, and is
    // an error. Returns when the path is free.
    static void remove_stale(std::string_view where, const std::string& path, const sockaddr_un& addr,
                             socklen_t addr_len) {
        struct stat st{};
        if (::lstat(path.c_str(), &st) != 0) {
            if (errno == ENOENT) return;
            fail(where, "cannot stat", last_error());
        }
        if (!S_ISSOCK(st.st_mode)) fail(where, "the path exists and is not a socket (not removed)");
        unique_fd probe{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
        if (probe.get() < 0) fail(where, "cannot create a socket", last_error());
        if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), addr_len) == 0 ||
            errno == EAGAIN || errno == EINPROGRESS) // EAGAIN: alive, with a full backlog
            fail(where, "another process is listening");
        if (errno == ENOENT) return; // removed meanwhile
        if (errno != ECONNREFUSED) fail(where, "cannot check whether the socket is in use", last_error());
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            fail(where, "cannot remove the stale socket file", last_error());
    }

    // Checks that `fd` is a listening stream socket of a family we serve; returns the family.
    static int check_listening(std::string_view where, int fd, int& protocol) {
        int type = 0;
        if (get_int_option(fd, SOL_SOCKET, SO_TYPE, type) != 0) {
            if (errno == ENOTSOCK) fail(where, "not a socket");
            fail(where, "not a usable socket", last_error());
        }
        if (type != SOCK_STREAM) fail(where, "not a stream socket");
        int listening = 0;
        if (get_int_option(fd, SOL_SOCKET, SO_ACCEPTCONN, listening) != 0)
            fail(where, "cannot read SO_ACCEPTCONN", last_error());
        if (!listening) fail(where, "not a listening socket");
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
            fail(where, "getsockname failed", last_error());
        const int family = ss.ss_family;
        if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
            fail(where, "address family " + std::to_string(family) + " is not AF_INET, AF_INET6 or AF_UNIX");
        protocol = family == AF_UNIX ? 0 : IPPROTO_TCP;
#ifdef SO_PROTOCOL
        int p = 0;
        if (get_int_option(fd, SOL_SOCKET, SO_PROTOCOL, p) == 0) protocol = p;
#endif
        return family;
    }

    static listener adopt(const listener::executor_type& ex, int fd, std::string_view where) {
        int protocol = 0;
        const int family = check_listening(where, fd, protocol);
        if (auto e = set_cloexec(fd)) fail(where, "cannot set FD_CLOEXEC", e);
        unique_fd owned{fd};
        try {
            return make(ex, where, owned, family, protocol, {});
        } catch (...) {
            owned.release(); // the caller's fd is not ours to close if we could not take it over
            throw;
        }
    }

    static std::vector<listener> inherited(const listener::executor_type& ex) {
        struct unset_on_exit {
            ~unset_on_exit() {
                ::unsetenv("LISTEN_PID");
                ::unsetenv("LISTEN_FDS");
                ::unsetenv("LISTEN_FDNAMES");
            }
        } unset;
        std::vector<listener> out;
        const char* pid_text = std::getenv("LISTEN_PID");
        if (!pid_text) return out;
        long pid = 0;
        if (!parse_number(std::string_view{pid_text}, pid) || pid <= 0)
            throw listen_error{printable("LISTEN_PID=" + quoted(pid_text) + " is not a process id")};
        if (pid != static_cast<long>(::getpid())) return out;
        const char* fds_text = std::getenv("LISTEN_FDS");
        if (!fds_text) return out;
        int count = 0;
        constexpr int first = 3; // SD_LISTEN_FDS_START
        if (!parse_number(std::string_view{fds_text}, count) || count > 65536)
            throw listen_error{printable("LISTEN_FDS=" + quoted(fds_text) + " is not a number of sockets")};
        const auto where = [](int fd) { return "LISTEN_FDS fd " + std::to_string(fd); };
        // Check them all before taking over any.
        for (int fd = first; fd < first + count; ++fd) {
            int protocol = 0;
            check_listening(where(fd), fd, protocol);
        }
        out.reserve(static_cast<std::size_t>(count));
        for (int fd = first; fd < first + count; ++fd) out.push_back(adopt(ex, fd, where(fd)));
        return out;
    }
};

void socket_file::remove() noexcept {
    if (!std::exchange(owned_, false)) return;
    struct stat st{};
    if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
        static_cast<std::uint64_t>(st.st_dev) == dev_ && static_cast<std::uint64_t>(st.st_ino) == ino_)
        ::unlink(path_.c_str());
}

void prepare_accepted(socket_type& s, int family, boost::system::error_code& ec) noexcept {
    const int fd = s.native_handle();
    ec = set_cloexec(fd);
    if (!ec && (family == AF_INET || family == AF_INET6)) ec = set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (ec) {
        error_code ignored;
        s.close(ignored);
    }
}

} // namespace detail

// ---------------------------------------------------------------------------------------------

std::string to_string(const listen_spec& spec) {
    switch (spec.type) {
    case kind::inet: return "inet:" + spec.host + ":" + std::to_string(spec.port);
    case kind::inet6: return "inet6:[" + spec.host + "]:" + std::to_string(spec.port);
    case kind::unix_socket: return "unix:" + spec.path;
    case kind::systemd_fd: return "fd:" + std::to_string(spec.fd);
    }
    return "?";
}

std::ostream& operator<<(std::ostream& os, const listen_spec& spec) { return os << to_string(spec); }

parse_result parse_listen_spec(std::string_view text) {
    try {
        return parser{text}.parse();
    } catch (bad_spec& e) {
        return parse_result::failure(std::move(e.message));
    }
}

void listener::cancel() noexcept {
    error_code ignored;
    acceptor_.cancel(ignored);
}

void listener::close() noexcept {
    error_code ignored;
    acceptor_.close(ignored);
    file_.remove();
}

listener open_listener(const listener::executor_type& ex, const listen_spec& spec,
                       const listener_options& options) {
    switch (spec.type) {
    case kind::inet:
    case kind::inet6: return detail::listener_factory::open_tcp(ex, spec, options);
    case kind::unix_socket: return detail::listener_factory::open_unix(ex, spec, options);
    case kind::systemd_fd:
        if (spec.fd < 0) fail(to_string(spec), "not a file descriptor number");
        return detail::listener_factory::adopt(ex, spec.fd, to_string(spec));
    }
    fail(to_string(spec), "unknown kind of listen spec");
}

std::vector<listener> inherited_listeners(const listener::executor_type& ex) {
    return detail::listener_factory::inherited(ex);
}

} // namespace cppmilter::asio_server
