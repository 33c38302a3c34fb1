// A deadline on a socket's operations (see the header).
#include <cppmilter/asio/detail/socket_deadline.hpp>

namespace cppmilter::asio_server::detail {

void socket_deadline::start(std::chrono::steady_clock::duration timeout) {
    deadline_ = clock::now() + timeout;
    expired_ = false;
    // The usual case: the timer already waits for an earlier time point and will re-arm.
    if (waiting_ && timer_.expiry() <= deadline_) return;
    arm();
}

void socket_deadline::arm() {
    timer_.expires_at(deadline_);
    waiting_ = true;
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec && self->socket_) self->on_timer();
    });
}

void socket_deadline::on_timer() {
    waiting_ = false;
    if (clock::now() < deadline_) {
        arm(); // the deadline moved on since the timer was armed
        return;
    }
    expired_ = true;
    boost::system::error_code ignored;
    socket_->cancel(ignored);
}

void socket_deadline::stop() noexcept {
    socket_ = nullptr;
    try {
        timer_.cancel();
    } catch (...) { // cancel() can only fail on an OS error; the handler then finds no socket
    }
}

} // namespace cppmilter::asio_server::detail
