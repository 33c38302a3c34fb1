// A deadline on a connection's reads that costs no timer operation per read: each read only
// moves a time point; one timer, re-armed when it fires early, cancels the socket's pending
// operations once the deadline has passed.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

namespace cppmilter::asio_server::detail {

class read_deadline : public std::enable_shared_from_this<read_deadline> {
public:
    using clock = std::chrono::steady_clock;
    using socket_type = boost::asio::generic::stream_protocol::socket;

    /// The connection's handle: stops the deadline when the connection's frame goes away.
    /// The state itself is shared with the timer's handler, which may run later.
    class owner {
    public:
        explicit owner(socket_type& socket) : state_{new read_deadline{socket}} {}
        ~owner() { state_->stop(); }
        owner(const owner&) = delete;
        owner& operator=(const owner&) = delete;
        read_deadline* operator->() const noexcept { return state_.get(); }

    private:
        std::shared_ptr<read_deadline> state_;
    };

    read_deadline(const read_deadline&) = delete;
    read_deadline& operator=(const read_deadline&) = delete;

    /// The next read must complete within `timeout` from now.
    void start(std::chrono::steady_clock::duration timeout);
    /// True when the last read was cancelled because its deadline passed.
    bool expired() const noexcept { return expired_; }
    /// Before the socket goes away: the timer no longer touches it.
    void stop() noexcept;

private:
    explicit read_deadline(socket_type& socket) : socket_{&socket}, timer_{socket.get_executor()} {}
    void arm();
    void on_timer();

    socket_type* socket_;
    boost::asio::steady_timer timer_;
    clock::time_point deadline_ = clock::time_point::max();
    bool waiting_ = false;
    bool expired_ = false;
};

} // namespace cppmilter::asio_server::detail
