// The connections of one io_context (one server thread) that wait for their MTA's next
// command. They wait in an epoll set of the thread's own, which Asio's reactor watches as one
// descriptor: a connection then costs its state and the kernel's registration, nothing of
// Asio's (no descriptor state, no pending operation), and one timer for all of them enforces
// the read timeout. Also holds the read buffers those connections hand over to each other.
#pragma once

#include <cppmilter/proto/decoder.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <vector>

namespace cppmilter::asio_server::detail {

class parked_connections : public boost::asio::io_context::service {
public:
    using clock = std::chrono::steady_clock;
    inline static boost::asio::io_context::id id;

    /// Why a parked connection is woken.
    enum class wake {
        readable,  // its socket has bytes, an end of stream or an error
        timed_out, // its read timeout passed
        destroy,   // the io_context goes away: delete the connection
    };

    /// A connection's registration; its base class. Linked in the deadline list only while
    /// parked; registered in the epoll set from add() until remove().
    struct entry {
        using notify_function = void (*)(entry&, wake) noexcept;
        explicit entry(notify_function f) noexcept : notify{f} {}

        entry* prev = nullptr;
        entry* next = nullptr;
        clock::time_point deadline{};
        notify_function notify;
        int fd = -1;
        bool parked = false;
        /// The connection must read until its socket is empty before it parks, not stop at a
        /// short read: the peer closed (its end of stream comes after the bytes a read returns),
        /// or an event came while the connection was busy. A read that finds nothing clears it.
        bool read_again = false;
    };

    explicit parked_connections(boost::asio::io_context& context);
    ~parked_connections() override;
    /// The list of `context`.
    static parked_connections& of(boost::asio::io_context& context) {
        return boost::asio::use_service<parked_connections>(context);
    }
    boost::asio::io_context& context() noexcept { return context_; }

    /// Watches e.fd (non-blocking) from now on; edge-triggered, so a connection parks only
    /// after a read found its socket empty.
    boost::system::error_code add(entry& e) noexcept;
    /// Stops watching e.fd, before the connection closes it.
    void remove(entry& e) noexcept;

    /// `e` is woken (notify) when its socket becomes readable or `timeout` from now passes;
    /// until then the list owns the connection.
    void park(entry& e, clock::duration timeout) noexcept;

    /// Read buffers between connections: a parked connection hands its buffer here and the
    /// next one to read takes it, so the thread's few busy connections share a few buffers
    /// instead of each allocating (and faulting in) a new one per message.
    void lend(proto::command_decoder& decoder) noexcept;
    void give_back(proto::command_decoder& decoder) noexcept;

private:
    void shutdown() override;
    void unpark(entry& e) noexcept;
    void watch();
    void on_events();
    void arm(clock::time_point when);
    void on_timer();

    boost::asio::io_context& context_;
    int epoll_fd_ = -1;
    boost::asio::posix::stream_descriptor watcher_; // epoll_fd_, as Asio's reactor sees it
    // Buffers given back, the last one given back last. As many as were in use at once (a
    // connection keeps its buffer in the middle of a message: 16 connections sending big
    // bodies hold 16), up to max_spare_bytes: with fewer, buffers were freed, returned to the
    // kernel by malloc and faulted in again, 15-25 % of the CPU per message with 256 KiB
    // bodies; without a bound, a burst would hold its memory for good.
    static constexpr std::size_t max_spare_bytes = std::size_t{4} << 20;
    std::vector<proto::command_decoder::storage> spare_;
    std::size_t spare_bytes_ = 0;
    entry* first_ = nullptr;
    entry* last_ = nullptr;
    // Deadlines are in order while every connection parks with the same timeout (one server's
    // --read-timeout); the timer then only looks at the front.
    bool in_order_ = true;
    boost::asio::steady_timer timer_;
    clock::time_point armed_for_ = clock::time_point::max();
    bool shut_down_ = false;
};

} // namespace cppmilter::asio_server::detail
