// Parked connections: the thread's epoll set, read deadlines and spare buffers (see the header).
#include <cppmilter/asio/detail/parked_connections.hpp>

#include <boost/asio/post.hpp>

#include <cerrno>
#include <new>
#include <system_error>

#include <sys/epoll.h>
#include <unistd.h>

namespace cppmilter::asio_server::detail {

namespace {
int new_epoll_set() {
    const int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) throw std::system_error{errno, std::system_category(), "epoll_create1"};
    return fd;
}
} // namespace

parked_connections::parked_connections(boost::asio::io_context& context)
    : boost::asio::io_context::service{context}, context_{context}, epoll_fd_{new_epoll_set()},
      watcher_{context, epoll_fd_}, timer_{context} {
    watch();
}

parked_connections::~parked_connections() = default; // watcher_ closes the epoll set

boost::system::error_code parked_connections::add(entry& e) noexcept {
    epoll_event event{};
    // Edge-triggered: an event means new bytes (or the end), not bytes a busy connection has
    // yet to read; so a connection busy with a hook is not reported again and again.
    event.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    event.data.ptr = &e;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, e.fd, &event) != 0) return {errno, boost::system::system_category()};
    return {};
}

void parked_connections::remove(entry& e) noexcept {
    unpark(e);
    // Explicitly: a copy of the descriptor (a write that had to wait) would keep the
    // registration, and its pointer to a connection that is gone, alive.
    if (e.fd >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, e.fd, nullptr);
}

void parked_connections::park(entry& e, clock::duration timeout) noexcept {
    e.deadline = clock::now() + timeout;
    e.parked = true;
    if (shut_down_) return; // the io_context is going away: nothing will wake it
    if (last_ != nullptr && last_->deadline > e.deadline) in_order_ = false;
    e.prev = last_;
    e.next = nullptr;
    (last_ != nullptr ? last_->next : first_) = &e;
    last_ = &e;
    if (e.deadline < armed_for_) arm(e.deadline);
}

void parked_connections::unpark(entry& e) noexcept {
    if (!e.parked) return;
    e.parked = false;
    if (shut_down_) return;
    (e.prev != nullptr ? e.prev->next : first_) = e.next;
    (e.next != nullptr ? e.next->prev : last_) = e.prev;
    e.prev = e.next = nullptr;
    if (first_ == nullptr) in_order_ = true;
}

void parked_connections::watch() {
    watcher_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
        if (!ec) on_events();
    });
}

void parked_connections::on_events() {
    constexpr int batch = 64;
    epoll_event events[batch];
    const int n = ::epoll_wait(epoll_fd_, events, batch, 0);
    if (n < 0) { // EINTR (it does not sleep, so hardly ever): the events are still there
        if (errno == EINTR) boost::asio::post(context_, [this] { on_events(); });
        else watch();
        return;
    }
    for (int i = 0; i < n; ++i) {
        auto& e = *static_cast<entry*>(events[i].data.ptr);
        // The peer's end of stream may come with its last bytes, and a read returns the bytes.
        if (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) e.read_again = true;
        if (!e.parked) { // busy (a hook, a write, a serve still to start): it reads before it parks
            e.read_again = true;
            continue;
        }
        unpark(e);
        e.notify(e, wake::readable); // may delete e; no later event of this batch is e's
    }
    // A full batch may have left events behind; they would not make the set readable again.
    // Take them after what else waits on this thread.
    if (n == batch) boost::asio::post(context_, [this] { on_events(); });
    else watch();
}

void parked_connections::lend(proto::command_decoder& decoder) noexcept {
    if (decoder.capacity() != 0 || spare_.empty()) return;
    spare_bytes_ -= spare_.back().capacity;
    decoder.adopt_storage(spare_.back());
    spare_.pop_back();
}

void parked_connections::give_back(proto::command_decoder& decoder) noexcept {
    auto returned = decoder.take_storage();
    if (!returned.bytes || spare_bytes_ + returned.capacity > max_spare_bytes) return; // freed
    try {
        spare_.push_back(std::move(returned));
        spare_bytes_ += spare_.back().capacity;
    } catch (const std::bad_alloc&) { // the list could not grow: the buffer is freed
    }
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
            unpark(*e);
            e->notify(*e, wake::timed_out); // deletes e
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
    // The list owns its parked connections: they go now. Busy ones go with the io_context's
    // pending operations, after this.
    shut_down_ = true;
    for (entry* e = first_; e != nullptr;) {
        entry* following = e->next;
        e->parked = false;
        e->notify(*e, wake::destroy);
        e = following;
    }
    first_ = last_ = nullptr;
}

} // namespace cppmilter::asio_server::detail
