// Read deadlines of parked connections (see the header).
#include <cppmilter/asio/detail/parked_connections.hpp>

#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>

namespace cppmilter::asio_server::detail {

parked_connections::parked_connections(boost::asio::io_context& context)
    : boost::asio::io_context::service{context}, timer_{context} {}

parked_connections& parked_connections::of(socket_type& socket) {
    auto& context = boost::asio::query(socket.get_executor(), boost::asio::execution::context);
    // The server accepts every connection on one of its io_contexts.
    return boost::asio::use_service<parked_connections>(static_cast<boost::asio::io_context&>(context));
}

void parked_connections::park(entry& e, socket_type& socket, clock::duration timeout) {
    e.socket = &socket;
    e.deadline = clock::now() + timeout;
    e.expired = false;
    if (shut_down_) return; // the io_context is going away: nothing will wait
    if (last_ != nullptr && last_->deadline > e.deadline) in_order_ = false;
    e.prev = last_;
    e.next = nullptr;
    (last_ != nullptr ? last_->next : first_) = &e;
    last_ = &e;
    if (e.deadline < armed_for_) arm(e.deadline);
}

void parked_connections::unpark(entry& e) noexcept {
    if (e.socket == nullptr) return;
    e.socket = nullptr;
    if (shut_down_) return;
    (e.prev != nullptr ? e.prev->next : first_) = e.next;
    (e.next != nullptr ? e.next->prev : last_) = e.prev;
    e.prev = e.next = nullptr;
    if (first_ == nullptr) in_order_ = true;
}

void parked_connections::lend(proto::command_decoder& decoder) noexcept {
    if (decoder.capacity() != 0) return;
    for (auto& spare : spare_)
        if (spare.bytes) return decoder.adopt_storage(spare);
}

void parked_connections::give_back(proto::command_decoder& decoder) noexcept {
    auto returned = decoder.take_storage();
    if (!returned.bytes) return;
    // Into an empty slot, else in place of the smallest spare if it is smaller.
    auto* smallest = &spare_[0];
    for (auto& spare : spare_) {
        if (!spare.bytes) {
            spare = std::move(returned);
            return;
        }
        if (spare.capacity < smallest->capacity) smallest = &spare;
    }
    if (smallest->capacity < returned.capacity) *smallest = std::move(returned);
}

void parked_connections::arm(clock::time_point when) {
    armed_for_ = when;
    timer_.expires_at(when); // cancels an earlier wait: its handler sees operation_aborted
    timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) on_timer();
    });
}

void parked_connections::on_timer() {
    armed_for_ = clock::time_point::max();
    const auto now = clock::now();
    auto next_deadline = clock::time_point::max();
    for (entry* e = first_; e != nullptr;) {
        entry* following = e->next;
        if (e->deadline <= now) {
            socket_type* socket = e->socket;
            unpark(*e);
            e->expired = true;
            boost::system::error_code ignored;
            socket->cancel(ignored); // its wait completes with operation_aborted
        } else if (in_order_) {
            next_deadline = e->deadline; // the rest are later still
            break;
        } else if (e->deadline < next_deadline) {
            next_deadline = e->deadline;
        }
        e = following;
    }
    if (next_deadline != clock::time_point::max()) arm(next_deadline);
}

void parked_connections::shutdown() {
    // The connections are destroyed with the io_context's pending operations, after this.
    for (entry* e = first_; e != nullptr; e = e->next) e->socket = nullptr;
    first_ = last_ = nullptr;
    shut_down_ = true;
}

} // namespace cppmilter::asio_server::detail
