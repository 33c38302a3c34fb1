// RESP2 on Boost.Asio: see include/cppmilter/contrib/redis.hpp.
#include <cppmilter/contrib/redis.hpp>

#include <cppmilter/asio/listen.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <deque>
#include <map>
#include <optional>
#include <utility>

#include <cerrno>
#include <sys/socket.h>

namespace cppmilter::redis {
namespace asio = boost::asio;
using generic_socket = asio::generic::stream_protocol::socket;

// ---- Replies: printing, parsing, encoding ---------------------------------------------------

std::ostream& operator<<(std::ostream& os, const reply& r) {
    switch (r.type) {
    case reply::kind::simple_string: return os << r.text;
    case reply::kind::error: return os << "(error) " << r.text;
    case reply::kind::integer: return os << "(integer) " << r.integer;
    case reply::kind::bulk_string: return os << '"' << r.text << '"';
    case reply::kind::null: return os << "(nil)";
    case reply::kind::array:
        os << '[';
        for (std::size_t i = 0; i < r.elements.size(); ++i) os << (i ? ", " : "") << r.elements[i];
        return os << ']';
    }
    return os;
}

namespace {

constexpr int max_depth = 32;

/// Recursive descent over one buffer; `incomplete` and `error` say why a step returned false.
class reply_reader {
public:
    reply_reader(std::string_view in, std::size_t max) : in_{in}, max_{max} {}

    parse_result read() {
        parse_result out;
        if (value(out.value, 0) && pos_ <= max_) {
            out.state = parse_result::status::complete;
            out.consumed = pos_;
        } else if (!error_.empty()) {
            out.state = parse_result::status::malformed;
            out.error = std::move(error_);
        } else if (pos_ > max_ || in_.size() > max_) {
            // Either way the reply is larger than the cap: no need to wait for the rest.
            out.state = parse_result::status::malformed;
            out.error = "reply over " + std::to_string(max_) + " bytes";
        }
        return out;
    }

private:
    bool fail(std::string why) {
        error_ = std::move(why);
        return false;
    }

    /// One CRLF-terminated line after the type byte; false when the CRLF has not come yet.
    bool line(std::string_view& text) {
        const auto end = in_.find("\r\n", pos_);
        if (end == std::string_view::npos) return false;
        text = in_.substr(pos_, end - pos_);
        if (text.find_first_of("\r\n") != std::string_view::npos) return fail("a bare CR or LF inside a reply line");
        pos_ = end + 2;
        return true;
    }

    bool number(std::int64_t& n) {
        std::string_view text;
        if (!line(text)) return false;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
            return fail("'" + std::string{text.substr(0, 20)} + "' is not a number");
        return true;
    }

    bool value(reply& r, int depth) {
        if (pos_ >= in_.size()) return false;
        const char type = in_[pos_++];
        switch (type) {
        case '+':
        case '-': {
            std::string_view text;
            if (!line(text)) return false;
            r.type = type == '+' ? reply::kind::simple_string : reply::kind::error;
            r.text.assign(text);
            return true;
        }
        case ':':
            r.type = reply::kind::integer;
            return number(r.integer);
        case '$': {
            std::int64_t length = 0;
            if (!number(length)) return false;
            if (length == -1) {
                r.type = reply::kind::null;
                return true;
            }
            if (length < 0) return fail("bulk string length " + std::to_string(length));
            if (static_cast<std::uint64_t>(length) > max_)
                return fail("bulk string of " + std::to_string(length) + " bytes: reply over " + std::to_string(max_) + " bytes");
            const auto size = static_cast<std::size_t>(length);
            if (in_.size() - pos_ < size + 2) return false;
            if (in_.substr(pos_ + size, 2) != "\r\n") return fail("bulk string not followed by CRLF");
            r.type = reply::kind::bulk_string;
            r.text.assign(in_.substr(pos_, size));
            pos_ += size + 2;
            return true;
        }
        case '*': {
            std::int64_t count = 0;
            if (!number(count)) return false;
            if (count == -1) {
                r.type = reply::kind::null;
                return true;
            }
            if (count < 0) return fail("array length " + std::to_string(count));
            // Each element takes at least 3 bytes (":0\r\n" is 4): a count beyond that is over the cap.
            if (static_cast<std::uint64_t>(count) > max_ / 3)
                return fail("array of " + std::to_string(count) + " elements: reply over " + std::to_string(max_) + " bytes");
            if (depth >= max_depth) return fail("arrays nested deeper than " + std::to_string(max_depth));
            r.type = reply::kind::array;
            r.elements.clear();
            for (std::int64_t i = 0; i < count; ++i)
                if (!value(r.elements.emplace_back(), depth + 1)) return false;
            return true;
        }
        default: {
            static constexpr char hex[] = "0123456789abcdef";
            const auto byte = static_cast<unsigned char>(type);
            return fail(std::string{"byte 0x"} + hex[byte >> 4] + hex[byte & 15] + " where a reply starts");
        }
        }
    }

    std::string_view in_;
    std::size_t max_;
    std::size_t pos_ = 0;
    std::string error_;
};

} // namespace

parse_result parse_reply(std::string_view buffer, std::size_t max_reply) {
    return reply_reader{buffer, max_reply}.read();
}

void encode_command(std::string& out, std::span<const std::string_view> args) {
    out += '*';
    out += std::to_string(args.size());
    out += "\r\n";
    for (auto a : args) {
        out += '$';
        out += std::to_string(a.size());
        out += "\r\n";
        out += a;
        out += "\r\n";
    }
}

// ---- Endpoints ------------------------------------------------------------------------------

endpoint parse_endpoint(std::string_view text) {
    // The listen specs' grammar serves: the same forms, numeric hosts, no name lookups.
    auto parsed = asio_server::parse_listen_spec(text);
    if (!parsed) throw std::invalid_argument{parsed.error()};
    endpoint e;
    using kind = asio_server::listen_spec::kind;
    switch (parsed->type) {
    case kind::unix_socket:
        e.local = true;
        e.path = parsed->path;
        return e;
    case kind::inet:
    case kind::inet6:
        if (parsed->port == 0) throw std::invalid_argument{std::string{text} + ": port 0 is no server's port"};
        e.ipv6 = parsed->type == kind::inet6;
        e.host = parsed->host;
        e.port = parsed->port;
        return e;
    case kind::systemd_fd: break;
    }
    throw std::invalid_argument{std::string{text} + ": not a server address (HOST:PORT, inet:PORT@HOST, unix:/path)"};
}

std::string to_string(const endpoint& e) {
    if (e.local) return "unix:" + e.path;
    return (e.ipv6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
}

// ---- The connection of one execution context -----------------------------------------------

namespace detail {

struct client_state {
    options settings;
    endpoint where;
    std::string name;
    std::string prelude; // AUTH and SELECT, sent first on every new connection
    std::size_t prelude_replies = 0;
};

namespace {

std::string milliseconds_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

/// A command written (or to be written) whose reply has not come yet.
struct pending {
    explicit pending(const asio::any_io_executor& ex) : wake{ex} {}
    asio::steady_timer wake; // expires at the deadline; cancelled when the outcome is in
    std::optional<reply> result;
    std::optional<error> failure;
    bool abandoned = false; // its coroutine was cancelled: the reply is read and dropped
    bool prelude = false;   // AUTH/SELECT: an error reply fails the connection
};

class connection : public std::enable_shared_from_this<connection> {
public:
    connection(asio::any_io_executor ex, std::shared_ptr<const client_state> state)
        : ex_{std::move(ex)}, state_{std::move(state)}, socket_{ex_} {}

    asio::awaitable<reply> execute(std::string encoded) {
        const auto& o = state_->settings;
        if (state_kind_ == status::open && !reading_ && closed_while_idle()) close_quietly();
        if (state_kind_ == status::closed) {
            const auto now = std::chrono::steady_clock::now();
            if (now < retry_at_) {
                const auto wait = std::chrono::ceil<std::chrono::milliseconds>(retry_at_ - now);
                throw error{errc::unavailable, "redis " + state_->name + " unavailable (" + last_failure_ +
                                                   "); next attempt in " + milliseconds_text(wait)};
            }
            start_connecting();
        }
        auto p = std::make_shared<pending>(ex_);
        p->wake.expires_after(o.timeout);
        queue_.push_back(p);
        write_buffer_ += encoded;
        start_writing();
        start_reading();

        const auto [ec] = co_await p->wake.async_wait(asio::as_tuple(asio::use_awaitable));
        if (p->result) co_return std::move(*p->result);
        if (p->failure) throw *p->failure;
        if (!ec) { // the deadline passed
            const bool connecting = state_kind_ == status::connecting;
            error e{errc::timeout, "redis " + state_->name + ": " +
                                       (connecting ? "no connection" : "no reply") + " within " +
                                       milliseconds_text(o.timeout)};
            p->abandoned = true;
            fail(error{errc::connection_lost, "redis " + state_->name + ": connection reset: a command got " +
                                                  (connecting ? "no connection" : "no reply") + " within " +
                                                  milliseconds_text(o.timeout)});
            throw e;
        }
        p->abandoned = true; // cancelled: its reply, if it comes, is read and dropped
        throw error{errc::cancelled, "redis " + state_->name + ": command cancelled"};
    }

    /// The io_context goes away: close, and fail nobody (their coroutines go with it).
    void shutdown() {
        ++generation_;
        boost::system::error_code ignored;
        socket_.close(ignored);
        queue_.clear();
    }

    bool idle() const noexcept { return queue_.empty(); }

private:
    enum class status { closed, connecting, open };

    /// An open connection with no reply due must have nothing to read: EOF (the server closed
    /// it: restart, idle timeout) or stray bytes both mean it is no longer usable.
    bool closed_while_idle() {
        char byte;
        const auto n = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    }

    void close_quietly() {
        ++generation_;
        boost::system::error_code ignored;
        socket_.close(ignored);
        read_buffer_.clear();
        writing_ = reading_ = false;
        state_kind_ = status::closed;
    }

    /// Resets the connection: every command still waiting fails with `e`, and the next
    /// attempt waits for the backoff.
    void fail(const error& e) {
        close_quietly();
        write_buffer_.clear();
        auto waiting = std::exchange(queue_, {});
        for (auto& p : waiting) {
            if (p->abandoned || p->prelude) continue;
            p->failure = e;
            p->wake.cancel();
        }
        const auto& o = state_->settings;
        backoff_ = backoff_.count() == 0 ? o.backoff_min : std::min(backoff_ * 2, o.backoff_max);
        retry_at_ = std::chrono::steady_clock::now() + backoff_;
        last_failure_ = e.what();
        if (const auto colon = last_failure_.find(": "); colon != std::string::npos) last_failure_.erase(0, colon + 2);
    }

    void start_connecting() {
        state_kind_ = status::connecting;
        asio::co_spawn(ex_, connect(shared_from_this(), generation_), asio::detached);
    }

    static asio::awaitable<void> connect(std::shared_ptr<connection> self, std::uint64_t generation) {
        const auto& w = self->state_->where;
        boost::system::error_code ec;
        if (w.local) {
            asio::local::stream_protocol::endpoint ep{w.path};
            self->socket_ = generic_socket{self->ex_, asio::generic::stream_protocol{AF_UNIX, 0}};
            std::tie(ec) = co_await self->socket_.async_connect(asio::generic::stream_protocol::endpoint{ep},
                                                                asio::as_tuple(asio::use_awaitable));
        } else {
            asio::ip::tcp::endpoint ep{asio::ip::make_address(w.host), w.port};
            self->socket_ = generic_socket{self->ex_, asio::generic::stream_protocol{ep.protocol().family(), IPPROTO_TCP}};
            std::tie(ec) = co_await self->socket_.async_connect(asio::generic::stream_protocol::endpoint{ep},
                                                                asio::as_tuple(asio::use_awaitable));
            if (!ec) self->socket_.set_option(asio::ip::tcp::no_delay{true}, ec);
        }
        if (generation != self->generation_) co_return; // reset meanwhile (a timeout)
        if (ec) {
            self->fail(error{errc::connect_failed, "redis " + self->state_->name + ": cannot connect: " + ec.message()});
            co_return;
        }
        self->state_kind_ = status::open;
        // AUTH and SELECT go first; the commands that waited for the connection follow.
        const auto& state = *self->state_;
        if (!state.prelude.empty()) {
            self->write_buffer_.insert(0, state.prelude);
            for (std::size_t i = 0; i < state.prelude_replies; ++i) {
                auto p = std::make_shared<pending>(self->ex_);
                p->prelude = true;
                self->queue_.push_front(std::move(p));
            }
        }
        self->start_writing();
        self->start_reading();
    }

    void start_writing() {
        if (writing_ || write_buffer_.empty() || state_kind_ != status::open) return;
        writing_ = true;
        asio::co_spawn(ex_, write_loop(shared_from_this(), generation_), asio::detached);
    }

    static asio::awaitable<void> write_loop(std::shared_ptr<connection> self, std::uint64_t generation) {
        std::string out;
        while (generation == self->generation_ && !self->write_buffer_.empty()) {
            out.clear();
            std::swap(out, self->write_buffer_); // commands issued meanwhile gather for the next write
            const auto [ec, n] = co_await asio::async_write(self->socket_, asio::buffer(out), asio::as_tuple(asio::use_awaitable));
            if (generation != self->generation_) co_return;
            if (ec) {
                self->fail(error{errc::connection_lost, "redis " + self->state_->name + ": cannot write: " + ec.message()});
                co_return;
            }
        }
        if (generation == self->generation_) self->writing_ = false;
    }

    void start_reading() {
        if (reading_ || queue_.empty() || state_kind_ != status::open) return;
        reading_ = true;
        asio::co_spawn(ex_, read_loop(shared_from_this(), generation_), asio::detached);
    }

    /// Reads while replies are due, and stops when none is: an idle connection has no read
    /// pending (so an io_context with nothing else to do returns from run()).
    static asio::awaitable<void> read_loop(std::shared_ptr<connection> self, std::uint64_t generation) {
        std::array<char, 16384> chunk;
        const auto& o = self->state_->settings;
        for (;;) {
            while (!self->queue_.empty()) {
                auto parsed = parse_reply(self->read_buffer_, o.max_reply);
                if (parsed.state == parse_result::status::incomplete) break;
                if (parsed.state == parse_result::status::malformed) {
                    self->fail(error{errc::protocol, "redis " + self->state_->name + ": bad reply: " + parsed.error});
                    co_return;
                }
                self->read_buffer_.erase(0, parsed.consumed);
                auto p = std::move(self->queue_.front());
                self->queue_.pop_front();
                if (p->prelude && parsed.value.is_error()) {
                    self->fail(error{errc::connect_failed, "redis " + self->state_->name + ": refused AUTH or SELECT: " +
                                                               parsed.value.text});
                    co_return;
                }
                self->backoff_ = std::chrono::milliseconds{0}; // the server answers: the next failure starts afresh
                if (p->abandoned || p->prelude) continue;
                p->result = std::move(parsed.value);
                p->wake.cancel();
            }
            if (self->queue_.empty()) {
                if (!self->read_buffer_.empty()) {
                    self->fail(error{errc::protocol, "redis " + self->state_->name + ": bytes no command asked for"});
                    co_return;
                }
                self->reading_ = false;
                co_return;
            }
            const auto [ec, n] = co_await self->socket_.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
            if (generation != self->generation_) co_return;
            if (ec) {
                self->fail(error{errc::connection_lost,
                                 "redis " + self->state_->name + ": " +
                                     (ec == asio::error::eof ? std::string{"connection closed by the server"}
                                                             : "cannot read: " + ec.message())});
                co_return;
            }
            self->read_buffer_.append(chunk.data(), n);
            // Take what else has arrived before parsing again: a big reply is then parsed a
            // few times, not once per 16 KiB read (each parse starts from its beginning).
            boost::system::error_code more_error;
            for (std::size_t more = self->socket_.available(more_error);
                 !more_error && more > 0 && self->read_buffer_.size() <= o.max_reply;
                 more = self->socket_.available(more_error)) {
                const std::size_t had = self->read_buffer_.size();
                self->read_buffer_.resize(had + more);
                const std::size_t got = self->socket_.read_some(asio::buffer(self->read_buffer_.data() + had, more), more_error);
                self->read_buffer_.resize(had + got);
            }
        }
    }

    asio::any_io_executor ex_;
    std::shared_ptr<const client_state> state_;
    generic_socket socket_;
    status state_kind_ = status::closed;
    std::uint64_t generation_ = 0; // bumped at every reset: loops of an older socket stop
    std::string write_buffer_;     // encoded commands not yet handed to the socket
    std::string read_buffer_;      // bytes read and not yet parsed
    std::deque<std::shared_ptr<pending>> queue_; // commands sent or to be sent, in order
    bool writing_ = false, reading_ = false;
    std::chrono::milliseconds backoff_{0};
    std::chrono::steady_clock::time_point retry_at_{};
    std::string last_failure_;
};

/// The connections of one execution context, one per client: they live and die with it.
class connection_registry : public asio::execution_context::service {
public:
    static inline asio::execution_context::id id;
    explicit connection_registry(asio::execution_context& context) : service{context} {}

    std::shared_ptr<connection> get(const asio::any_io_executor& ex, const std::shared_ptr<const client_state>& state) {
        auto found = connections_.find(state.get());
        if (found != connections_.end() && !found->second.owner.expired()) return found->second.conn;
        // A new client (first use, or a client made after a settings reload): forget the
        // connections of clients that are gone, unless a reply is still due on them.
        std::erase_if(connections_, [](const auto& entry) {
            return entry.second.owner.expired() && entry.second.conn->idle();
        });
        auto conn = std::make_shared<connection>(ex, state);
        connections_[state.get()] = {state, conn};
        return conn;
    }

private:
    void shutdown() override {
        for (auto& [key, entry] : connections_) entry.conn->shutdown();
        connections_.clear();
    }
    struct entry {
        std::weak_ptr<const client_state> owner;
        std::shared_ptr<connection> conn;
    };
    std::map<const client_state*, entry> connections_;
};

} // namespace
} // namespace detail

// ---- The client -----------------------------------------------------------------------------

client::client(options o) {
    auto state = std::make_shared<detail::client_state>();
    state->where = parse_endpoint(o.server);
    state->name = to_string(state->where);
    if (o.timeout.count() <= 0) throw std::invalid_argument{"redis timeout must be positive"};
    if (o.database < 0) throw std::invalid_argument{"redis database must be 0 or more"};
    if (o.backoff_min.count() <= 0 || o.backoff_max < o.backoff_min)
        throw std::invalid_argument{"redis backoff: 0 < minimum <= maximum"};
    if (!o.password.empty()) {
        if (o.user.empty()) {
            const std::array<std::string_view, 2> auth{"AUTH", o.password};
            encode_command(state->prelude, auth);
        } else {
            const std::array<std::string_view, 3> auth{"AUTH", o.user, o.password};
            encode_command(state->prelude, auth);
        }
        ++state->prelude_replies;
    } else if (!o.user.empty()) {
        throw std::invalid_argument{"a redis user needs a password"};
    }
    if (o.database != 0) {
        const std::string db = std::to_string(o.database);
        const std::array<std::string_view, 2> select{"SELECT", db};
        encode_command(state->prelude, select);
        ++state->prelude_replies;
    }
    state->settings = std::move(o);
    state_ = std::move(state);
}

const options& client::settings() const noexcept { return state_->settings; }
const std::string& client::name() const noexcept { return state_->name; }

asio::awaitable<reply> client::command(std::span<const std::string_view> args) const {
    std::string encoded;
    encode_command(encoded, args);
    return run(std::move(encoded));
}

asio::awaitable<reply> client::command(std::span<const std::string> args) const {
    std::vector<std::string_view> views(args.begin(), args.end());
    std::string encoded;
    encode_command(encoded, views);
    return run(std::move(encoded));
}

asio::awaitable<reply> client::run(std::string encoded) const {
    const auto ex = co_await asio::this_coro::executor;
    auto& context = asio::query(ex, asio::execution::context);
    auto conn = asio::use_service<detail::connection_registry>(context).get(ex, state_);
    co_return co_await conn->execute(std::move(encoded));
}

namespace {
/// EVAL or EVALSHA with its KEYS and ARGV, encoded (outside the coroutine: g++ 12 cannot keep
/// an initializer_list's array in a coroutine frame).
std::string encode_eval(std::string_view verb, std::string_view body, const std::vector<std::string>& keys,
                        const std::vector<std::string>& args) {
    const std::string key_count = std::to_string(keys.size());
    std::vector<std::string_view> all{verb, body, key_count};
    all.insert(all.end(), keys.begin(), keys.end());
    all.insert(all.end(), args.begin(), args.end());
    std::string encoded;
    encode_command(encoded, all);
    return encoded;
}
std::string encode_script_load(std::string_view text) {
    const std::array<std::string_view, 3> load{"SCRIPT", "LOAD", text};
    std::string encoded;
    encode_command(encoded, load);
    return encoded;
}
} // namespace

asio::awaitable<reply> client::eval(const script& s, std::vector<std::string> keys,
                                    std::vector<std::string> args) const {
    if (!s.known_.load(std::memory_order_acquire)) {
        const reply loaded = co_await run(encode_script_load(s.text()));
        if (loaded.type != reply::kind::bulk_string) co_return loaded; // an error reply: the caller sees it
        std::lock_guard lock{s.mutex_};
        if (!s.known_.load(std::memory_order_relaxed)) {
            s.sha_ = loaded.text;
            s.known_.store(true, std::memory_order_release);
        }
    }
    reply r = co_await run(encode_eval("EVALSHA", s.sha_, keys, args));
    if (r.is_error() && r.text.starts_with("NOSCRIPT")) r = co_await run(encode_eval("EVAL", s.text(), keys, args));
    co_return r;
}

} // namespace cppmilter::redis
