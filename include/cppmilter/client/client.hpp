// The MTA side of the milter protocol: a blocking client that talks to a milter as Postfix or
// Sendmail would, checks every reply against the protocol, and applies the modifications to a
// message. The library behind the `cppmilter-send` tool (link cppmilter::client).
//
//     cppmilter::client::blocking_client c;
//     c.connect("inet:127.0.0.1:8891");
//     auto n = c.negotiate();                          // validated OPTNEG reply
//     c.connect_info("client.example", proto::address_family::inet, 54321, "192.0.2.1");
//     c.mail_from("<a@example.org>");                  // answers: "CONTINUE"
//     ...
//     auto eom = c.end_of_message();                   // modifications, then the verdict
//     apply(eom, msg);                                 // the message as the MTA would deliver it
//
// Every wait is bounded (poll() with a deadline): command_timeout for most commands,
// content_timeout for headers, body and end of message, as Postfix's milter_command_timeout
// and milter_content_timeout. PROGRESS replies restart the deadline.
#pragma once

#include <cppmilter/client/answers.hpp>
#include <cppmilter/client/detail/client_core.hpp>
#include <cppmilter/client/options.hpp>
#include <cppmilter/proto/commands.hpp>
#include <cppmilter/proto/constants.hpp>
#include <cppmilter/proto/decoder.hpp>
#include <cppmilter/proto/session.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cppmilter::client {

/// A message as the MTA holds it: envelope, header fields (values as sent to the milter:
/// folded lines joined by "\n", the leading space after the colon removed) and the body with
/// CRLF line ends.
struct message {
    std::string sender;
    std::vector<std::string> recipients;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    /// Reasons of QUARANTINE replies applied to this message (empty: not quarantined).
    std::vector<std::string> quarantine;
};

/// Applies the modifications of `eom` to `m` in order: ADDHEADER appends, INSHEADER inserts at
/// its index (0 = top; past the end appends), CHGHEADER changes occurrence `index` (1-based)
/// of its name (case-insensitive; an empty value deletes it; a missing occurrence with a value
/// appends the header), REPLBODY replaces the body (consecutive chunks concatenated), ADDRCPT /
/// ADDRCPT_PAR append a recipient, DELRCPT removes it (compared with and without <>,
/// case-insensitively), CHGFROM sets the sender, QUARANTINE records its reason.
void apply(const eom_result& eom, message& m);

/// Splits an RFC 5322 message (LF or CRLF line ends) into headers and body: folded header
/// lines are unfolded into "\n"-joined values as an MTA sends them; the body gets CRLF line
/// ends. Lines before the first empty line that are no header (no colon) end the headers.
message parse_rfc5322(std::string_view text);
/// Headers (folded values written back with CRLF) + empty line + body.
std::string to_rfc5322(const message& m);

/// An MTA-side milter connection, blocking, one thread. Not copyable; movable.
/// async_client offers the same calls as coroutines.
class blocking_client : private detail::client_core {
public:
    using clock = std::chrono::steady_clock;

    explicit blocking_client(client_options options = {});
    ~blocking_client();
    blocking_client(const blocking_client&) = delete;
    blocking_client& operator=(const blocking_client&) = delete;
    blocking_client(blocking_client&& other) noexcept;
    blocking_client& operator=(blocking_client&& other) noexcept;

    /// Connects to "inet:HOST:PORT", "inet:PORT@HOST", "inet6:[HOST]:PORT", "unix:/path" (any
    /// form of asio_server::parse_listen_spec; numeric hosts only), within command_timeout.
    void connect(std::string_view spec);
    bool is_open() const noexcept { return fd_ >= 0; }
    /// Closes the socket without QUIT (an MTA that vanishes).
    void close() noexcept;

    /// Sends OPTNEG with options().offer and validates the reply (§10.2): letter O, at least
    /// 12 bytes, version 2..offered, actions and protocol bits within the offer.
    const negotiation& negotiate();
    using client_core::macro_list;
    using client_core::negotiated;
    using client_core::options;
    using client_core::progress_count;
    using client_core::session_options;
    using client_core::trace;

    /// MACRO for the command letter `stage` ('C', 'H', 'M', 'R', 'T', 'L', 'N', 'B', 'E').
    /// With postfix_macros, the empty MACRO before the next event is then not sent.
    void macros(char stage, const macro_list& pairs);

    // Each event honours the negotiation: a command switched off by NO* (or too new for the
    // version) is not sent and answers{{}, false} comes back; under an NR* bit nothing is
    // read and an empty answers comes back. Otherwise the replies up to the verdict.
    answers connect_info(std::string_view hostname, proto::address_family family, std::uint16_t port,
                         std::string_view address);
    answers helo(std::string_view name);
    answers mail_from(std::string_view address, const std::vector<std::string>& esmtp_args = {});
    answers rcpt(std::string_view address, const std::vector<std::string>& esmtp_args = {});
    answers data();
    answers header(std::string_view name, std::string_view value);
    answers end_of_headers();
    /// Sends `content` as BODY chunks of at most 65535 bytes; stops early when a chunk is not
    /// answered CONTINUE (or with nothing, under NR_BODY). Returns the last chunk's answers;
    /// nothing is sent for an empty body.
    answers body(std::string_view content);
    eom_result end_of_message();
    answers unknown(std::string_view line);
    void abort();
    void quit();
    void quit_new_connection();

private:
    answers event(const proto::command& c);
    void send_bytes(std::string_view bytes, clock::time_point deadline);
    answers read_answer(proto::command_kind k, std::size_t* progress);
    [[noreturn]] void fail(const std::string& what);
    proto::packet next_packet(clock::time_point deadline);
    bool wait_for(short events, clock::time_point deadline);

    int fd_ = -1;
};

/// How a message fared, from an SMTP client's point of view.
enum class disposition { accepted, rejected, tempfailed, discarded };
std::string_view to_string(disposition d) noexcept;

/// What a verdict means for the message: CONTINUE, ACCEPT, SKIP → accepted; REJECT or a 5xx
/// REPLYCODE → rejected; TEMPFAIL, SHUTDOWN or a 4xx REPLYCODE → tempfailed; DISCARD → discarded.
disposition disposition_of(const proto::reply& verdict) noexcept;

/// Connection data for deliver().
struct session_info {
    std::string client_name = "client.example";
    proto::address_family family = proto::address_family::inet;
    std::uint16_t port = 54321;
    std::string client_address = "192.0.2.1";
    std::string helo = "client.example";
};

/// The outcome of deliver().
struct delivery {
    disposition result = disposition::accepted;
    std::string decided_at;   ///< the command whose verdict decided ("RCPT"), empty if EOM continued
    std::string verdict;      ///< that verdict's one-line form ("REPLYCODE text=...")
    eom_result eom;           ///< answers to end of message, if it was sent
    message modified;         ///< `msg` with the modifications applied
    std::vector<std::string> rejected_recipients;
};

/// A whole SMTP session as Postfix runs it, after negotiate(): CONNECT, HELO, then the message
/// (MAIL, each RCPT, DATA, headers, EOH, body, end of message) and ABORT; stops where a
/// verdict ends the session or the message (a rejected RCPT only drops that recipient).
/// Does not QUIT.
delivery deliver(blocking_client& c, const session_info& session, const message& msg);

} // namespace cppmilter::client
