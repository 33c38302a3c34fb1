// The MTA side of the milter protocol without I/O: the bytes each call sends, the checks on
// each reply. blocking_client and async_client add only their socket and their waiting.
#pragma once

#include <cppmilter/client/answers.hpp>
#include <cppmilter/client/options.hpp>
#include <cppmilter/proto/commands.hpp>
#include <cppmilter/proto/decoder.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cppmilter::client::detail {

class client_core {
public:
    using macro_list = std::vector<std::pair<std::string, std::string>>;

    /// Called with one line per command sent ("> MAIL address=...") and per reply received
    /// ("< CONTINUE"); also "- HEADER (not sent)" for switched-off commands.
    std::function<void(std::string_view)> trace;

    const negotiation& negotiated() const noexcept { return negotiation_; }
    /// What negotiate() agreed (before: the offer itself).
    const proto::negotiated_options& session_options() const noexcept { return options_; }
    const client_options& options() const noexcept { return client_options_; }
    /// PROGRESS replies seen on this connection.
    std::size_t progress_count() const noexcept { return progress_; }

protected:
    /// What a reply means for the command it answers.
    enum class reply_step {
        partial,  ///< a modification: more replies follow
        progress, ///< PROGRESS: restart the deadline, wait on
        verdict,  ///< the last reply of the answer
    };

    explicit client_core(client_options options);

    /// Forgets the previous connection: negotiation, buffered bytes, pending MACRO.
    void reset();

    // Outgoing: each appends the wire bytes of one call to `out`. Throws client_error when a
    // command cannot be encoded.
    void append_optneg(std::string& out);
    void append_macros(std::string& out, char stage, const macro_list& pairs);
    /// Event `c` (after Postfix's empty MACRO, see client_options::postfix_macros); false, and
    /// nothing appended, when the negotiation switched the command off.
    bool append_event(std::string& out, const proto::command& c);
    /// ABORT, QUIT, QUIT_NC: no MACRO, no answer.
    void append_command(std::string& out, const proto::command& c);

    bool expects_answer(proto::command_kind k) const noexcept { return options_.expects_answer(k); }
    /// command_timeout, or content_timeout for HEADER, EOH, BODY and end of message.
    std::chrono::milliseconds timeout_for(proto::command_kind k) const noexcept;

    // Incoming.
    std::span<char> receive_buffer() { return reader_.prepare(4096); }
    void received(std::size_t n) noexcept { reader_.commit(n); }
    /// The next whole packet already received; nullopt when more bytes are needed. Throws
    /// client_error on broken framing.
    std::optional<proto::packet> buffered_packet();
    /// Checks the OPTNEG reply against the offer (§10.2) and keeps it. Throws client_error.
    const negotiation& accept_optneg(const proto::packet& p);
    /// Checks one reply to `k` against the protocol and the negotiation and appends its packet
    /// to `collected` (PROGRESS is counted instead). Throws client_error on a violation.
    reply_step accept_reply(proto::command_kind k, const proto::packet& p, std::string& collected);

    /// Traces the line `make()` returns; builds it only when someone listens.
    template <class MakeLine>
    void log(MakeLine&& make) const {
        if (trace) trace(make());
    }

private:
    client_options client_options_;
    proto::packet_reader reader_;
    negotiation negotiation_{};
    proto::negotiated_options options_{};
    std::size_t progress_ = 0;
    bool macros_sent_ = false; // an explicit MACRO went out since the last event
};

} // namespace cppmilter::client::detail
