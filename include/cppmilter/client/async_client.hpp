// The MTA side of the milter protocol as C++20 coroutines on Boost.Asio: the calls of
// blocking_client, each returning an awaitable, so that one thread drives many milter
// connections (load generators, tests that run an MTA and a milter on one io_context).
//
//     boost::asio::awaitable<void> check(boost::asio::any_io_executor ex) {
//         cppmilter::client::async_client c{ex};
//         co_await c.connect("inet:127.0.0.1:8891");
//         co_await c.negotiate();
//         auto a = co_await c.mail_from("<a@example.org>");   // answers: "CONTINUE"
//         ...
//         auto eom = co_await c.end_of_message();
//         co_await c.quit();
//     }
//
// Each call copies or encodes its arguments before it returns, so the awaitable owns what it
// sends: string_view arguments need not outlive the call. One operation at a time per client
// (await each call before the next). Deadlines as in blocking_client: command_timeout,
// content_timeout, PROGRESS restarts the wait; one timer per client, re-armed only when it
// fires early, so waiting costs no timer operation per command (the server's socket_deadline).
#pragma once

#include <cppmilter/asio/detail/socket_deadline.hpp>
#include <cppmilter/client/answers.hpp>
#include <cppmilter/client/detail/client_core.hpp>
#include <cppmilter/client/options.hpp>
#include <cppmilter/proto/constants.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cppmilter::client {

/// An MTA-side milter connection driven by coroutines. Neither copyable nor movable (its
/// deadline refers to its socket); hold it in a std::unique_ptr to move it.
class async_client : private detail::client_core {
public:
    using executor_type = boost::asio::any_io_executor;
    template <class T>
    using awaitable = boost::asio::awaitable<T, executor_type>;

    explicit async_client(executor_type executor, client_options options = {});
    ~async_client();
    async_client(const async_client&) = delete;
    async_client& operator=(const async_client&) = delete;

    executor_type get_executor() noexcept { return socket_.get_executor(); }

    /// Connects to "inet:HOST:PORT", "inet:PORT@HOST", "inet6:[HOST]:PORT", "unix:/path"
    /// (numeric hosts only), within command_timeout.
    awaitable<void> connect(std::string_view spec);
    bool is_open() const noexcept { return socket_.is_open(); }
    /// Closes the socket without QUIT (an MTA that vanishes); a pending call fails.
    void close() noexcept;

    /// OPTNEG with options().offer; the reply is validated as by blocking_client::negotiate().
    awaitable<negotiation> negotiate();
    using client_core::macro_list;
    using client_core::negotiated;
    using client_core::options;
    using client_core::progress_count;
    using client_core::session_options;
    using client_core::trace;

    /// MACRO for the command letter `stage`; the empty Postfix MACRO before the next event is
    /// then not sent.
    awaitable<void> macros(char stage, const macro_list& pairs);

    // Events, as blocking_client's: answers{{}, false} when the negotiation switched the command
    // off, an empty answers under its NR* bit, else the replies up to the verdict.
    awaitable<answers> connect_info(std::string_view hostname, proto::address_family family, std::uint16_t port,
                                    std::string_view address);
    awaitable<answers> helo(std::string_view name);
    awaitable<answers> mail_from(std::string_view address, const std::vector<std::string>& esmtp_args = {});
    awaitable<answers> rcpt(std::string_view address, const std::vector<std::string>& esmtp_args = {});
    awaitable<answers> data();
    awaitable<answers> header(std::string_view name, std::string_view value);
    awaitable<answers> end_of_headers();
    /// BODY chunks of at most 65535 bytes; stops after a chunk not answered CONTINUE (or
    /// nothing under NR_BODY). The last chunk's answers; nothing sent for an empty body.
    awaitable<answers> body(std::string_view content);
    awaitable<eom_result> end_of_message();
    awaitable<answers> unknown(std::string_view line);
    awaitable<void> abort();
    awaitable<void> quit();
    awaitable<void> quit_new_connection();

private:
    awaitable<void> connect_to(std::string spec);
    awaitable<negotiation> exchange_optneg(std::string bytes);
    /// Encodes `c` now; the awaitable sends it and reads its answer.
    awaitable<answers> event(const proto::command& c);
    /// Sends `bytes` (an event of kind `k`, or nothing when !sent) and reads its answer.
    awaitable<answers> exchange(std::string bytes, proto::command_kind k, bool sent);
    awaitable<answers> send_body(std::string content);
    awaitable<eom_result> exchange_eom(std::string bytes);
    awaitable<void> send_only(std::string bytes, bool then_close);
    awaitable<void> write(std::string_view bytes);
    awaitable<proto::packet> next_packet();
    awaitable<answers> read_answer(proto::command_kind k, std::size_t* progress);
    [[noreturn]] void fail(const std::string& what);

    boost::asio::generic::stream_protocol::socket socket_;
    asio_server::detail::socket_deadline::owner deadline_; // after socket_: stopped before it goes

};

} // namespace cppmilter::client
