// The connections of one io_context (one server thread) that wait for their MTA's next
// command, with their read deadlines: one timer for all of them instead of one per connection,
// so that an idle connection costs only its socket, its state and one pending wait; and the
// read buffers those connections hand over to each other.
#pragma once

#include <cppmilter/proto/decoder.hpp>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>

namespace cppmilter::asio_server::detail {

class parked_connections : public boost::asio::io_context::service {
public:
    using clock = std::chrono::steady_clock;
    using socket_type = boost::asio::generic::stream_protocol::socket;
    inline static boost::asio::io_context::id id;

    /// A connection's place in the list; a member of the connection. Not linked while the
    /// connection reads, runs hooks or writes.
    struct entry {
        entry* prev = nullptr;
        entry* next = nullptr;
        socket_type* socket = nullptr; // set while parked
        clock::time_point deadline{};
        /// The deadline passed while parked: the socket's wait was cancelled.
        bool expired = false;
    };

    explicit parked_connections(boost::asio::io_context& context);
    /// The list of the io_context that runs `socket`'s operations.
    static parked_connections& of(socket_type& socket);

    /// `e` waits for `socket` to become readable until `timeout` from now; then its wait is
    /// cancelled and e.expired set.
    void park(entry& e, socket_type& socket, clock::duration timeout);
    /// `e`'s wait ended (or its connection goes away). Safe when not parked.
    void unpark(entry& e) noexcept;

    /// Read buffers between connections: a parked connection hands its buffer here and the
    /// next one to read takes it, so the thread's few busy connections share a few buffers
    /// instead of each allocating (and faulting in) a new one per message.
    void lend(proto::command_decoder& decoder) noexcept;
    void give_back(proto::command_decoder& decoder) noexcept;

private:
    void shutdown() override;
    void arm(clock::time_point when);
    void on_timer();

    // The largest spare buffers; a few are enough: one thread reads for one connection at a
    // time, and others between their reads only while they wait for a write or a hook.
    static constexpr std::size_t max_spare_buffers = 4;
    proto::command_decoder::storage spare_[max_spare_buffers];
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
