// A deadline on a socket's operations that costs no timer operation per operation: each one
// only moves a time point; one timer, re-armed when it fires early, cancels the socket's
// pending operations once the deadline has passed. The server bounds a write that has to wait
// with it (reads of parked connections are timed by their thread's list), the async client
// every wait.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

namespace cppmilter::asio_server::detail {

class socket_deadline : public std::enable_shared_from_this<socket_deadline> {
public:
    using clock = std::chrono::steady_clock;
    using socket_type = boost::asio::generic::stream_protocol::socket;

    /// The socket owner's handle: stops the deadline when the owner goes away.
    /// The state itself is shared with the timer's handler, which may run later.
    class owner {
    public:
        explicit owner(socket_type& socket) : state_{new socket_deadline{socket}} {}
        ~owner() { state_->stop(); }
        owner(const owner&) = delete;
        owner& operator=(const owner&) = delete;
        socket_deadline* operator->() const noexcept { return state_.get(); }
        socket_deadline& operator*() const noexcept { return *state_; }

    private:
        std::shared_ptr<socket_deadline> state_;
    };

    socket_deadline(const socket_deadline&) = delete;
    socket_deadline& operator=(const socket_deadline&) = delete;

    /// The next operation must complete within `timeout` from now.
    void start(std::chrono::steady_clock::duration timeout);
    /// True when the deadline passed since start(): the pending operation was cancelled.
    bool expired() const noexcept { return expired_; }
    /// Before the socket goes away: the timer no longer touches it.
    void stop() noexcept;

private:
    explicit socket_deadline(socket_type& socket) : socket_{&socket}, timer_{socket.get_executor()} {}
    void arm();
    void on_timer();

    socket_type* socket_;
    boost::asio::steady_timer timer_;
    clock::time_point deadline_ = clock::time_point::max();
    bool waiting_ = false;
    bool expired_ = false;
};

} // namespace cppmilter::asio_server::detail
