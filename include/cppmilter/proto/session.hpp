// The filter side of one milter connection as a sans-I/O state machine (§5, §6).
#pragma once

#include <cppmilter/proto/commands.hpp>
#include <cppmilter/proto/constants.hpp>
#include <cppmilter/proto/error.hpp>
#include <cppmilter/proto/replies.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cppmilter::proto {

/// What a filter asks for in negotiation (§5.1).
struct negotiation_request {
    /// Actions the filter will use. Each one is required: if the MTA does not offer it,
    /// negotiation fails with errc::actions_not_offered naming the missing ones.
    action_set actions{};
    /// NO*, NR* and feature bits the filter would like. Each is granted only if offered:
    /// without NR_X the filter still answers X (the session sends the `c`), without NO_X the
    /// MTA still sends X.
    protocol_set protocol{};
    /// Macro lists per stage; any set list also requests SETSYMLIST if offered (it is never
    /// required: an MTA without it gets no lists). Views: the strings must outlive the session
    /// (the DSL passes string literals built at compile time).
    symbol_lists macros{};
    /// Keep only the macros named in `macros` (in any stage's list) and drop the others the
    /// MTA sends: Postfix sends its default set when no list was asked for, and every idle
    /// connection would hold it. For filters that read no other macro (the DSL: a hook reads
    /// only what it declared).
    bool keep_listed_macros_only = false;
};

/// What was agreed for one connection.
struct negotiated_options {
    std::uint32_t version = protocol_version;
    action_set actions{};
    protocol_set protocol{};

    /// Whether the MTA waits for an answer to `c` (§2.1: verdict unless the NR bit is set).
    bool expects_answer(command_kind c) const noexcept;
    /// Whether the MTA will send `c` at all (not switched off by NO* or by the version, §5.4).
    bool sends(command_kind c) const noexcept;
    friend bool operator==(const negotiated_options&, const negotiated_options&) = default;
};

/// Computes the OPTNEG reply to `offer`, or the reason none is possible.
/// version = min(6, offered); actions = requested (all must be offered, SETSYMLIST added when
/// lists are sent and it is offered); protocol = requested ∩ offered, never an internal bit.
/// A legacy offer of 0 actions / 0 protocol bits stands for the v1 masks (§5.1).
result<optneg_reply> negotiate(const optneg& offer, const negotiation_request& request);

/// Macro values received for one connection (§3.2), copied out of the packets because those
/// die with the decoder's buffer. The storage is reused: no allocation after warm-up.
class macro_table {
public:
    /// Stores the MACRO packet for its stage; later stages are forgotten like libmilter
    /// does (a new MAIL's macros make the previous RCPT/DATA/... values stale).
    /// Letters other than C H M R T U L N B E are accepted and ignored.
    void store(const macro& m);
    /// The same, keeping only the pairs whose name (`x` and `{x}` alike) is in one of `keep`'s
    /// lists.
    void store(const macro& m, const symbol_lists& keep);
    /// Forgets the macros of the message transaction (MAIL and later stages).
    void clear_message();
    void clear();

    /// The newest value of `name`, searching the latest stage first; `x` and `{x}` are the
    /// same name. nullopt when the MTA sent no value.
    std::optional<std::string_view> find(std::string_view name) const noexcept;
    /// The pairs the MTA sent for one command letter (empty if none).
    macro_pairs stage(char letter) const noexcept;

private:
    static constexpr std::size_t slot_count = 10; // C H M R T L N B E, then U
    std::string_view part(std::size_t i) const noexcept;
    /// Stores `pairs` (size bytes once filtered) for the stage in `slot`.
    template <class Append>
    void store_slot(std::size_t slot, std::size_t size, Append append);

    // One string, not one per stage: every idle connection holds its macros.
    std::string data_;
    std::array<std::uint32_t, slot_count> ends_{};
};

/// What the caller does after handing a command to the session.
enum class session_step {
    none,            ///< handled inside: MACRO, OPTNEG (reply appended), ABORT without a message
    call_hook,       ///< run the hook for this command, then answer() (always; see answer())
    abort_message,   ///< ABORT: drop the message state (run an abort hook); never answered
    close,           ///< QUIT: run the close logic and close the socket; never answered
    new_connection,  ///< QUIT_NC: run the close logic; the socket stays, options are kept
};
std::string_view to_string(session_step s) noexcept;

/// The outcome of one command.
struct session_event {
    session_step step = session_step::none;
    /// A message transaction was open and this command ended it implicitly (a new MAIL, a
    /// HELO, QUIT, QUIT_NC or EOF in the middle of a message): run the abort logic first.
    bool aborted_message = false;
    /// Whether the MTA waits for an answer to this command (false under NR bits).
    bool expects_answer = false;
};

/// Where a connection stands.
enum class session_phase {
    awaiting_optneg, ///< nothing received yet
    negotiated,      ///< options agreed, no CONNECT yet (or after QUIT_NC)
    connected,       ///< CONNECT (or its NO* skip) seen, no message open
    in_message,      ///< MAIL .. end of body
    message_done,    ///< the end-of-body verdict was sent; ABORT or a new MAIL follow
    closed,          ///< QUIT received
};
std::string_view to_string(session_phase p) noexcept;

/// The filter side of one connection: takes decoded commands, keeps the negotiated options,
/// the macros and the phase, tells the caller what to do, and encodes the caller's answers
/// only where the protocol allows them.
///
/// Tolerates what real MTAs do (§7.5): MACRO before every event (any letter, possibly
/// empty), ABORT at any time and repeated, several messages per connection, QUIT in any
/// state. Rejects real violations with errc::out_of_order and the phase in error::field.
class filter_session {
public:
    explicit filter_session(negotiation_request request = {})
        : request_{std::make_shared<const negotiation_request>(std::move(request))} {}
    /// The same with a request that outlives the session (a static one, as the DSL's): the
    /// session keeps only its address, which thousands of idle connections notice.
    explicit filter_session(const negotiation_request* request) : request_{std::shared_ptr<void>{}, request} {}

    /// Processes one command. For OPTNEG the reply is appended to `out`.
    result<session_event> on_command(const command& cmd, std::string& out);

    /// Answers the command last returned as call_hook. Appends nothing where the MTA waits
    /// for no answer (NR bit) and the answer is continue. At end of body send modifications,
    /// progress and quarantine first, then one verdict; elsewhere one verdict. Checks that
    /// the reply is allowed here and negotiated: a modification outside end of body, an
    /// action not negotiated, skip outside BODY, discard at CONNECT/HELO, any reply where
    /// none is awaited all fail and append nothing. A skip the MTA cannot take (SKIP not
    /// negotiated) is sent as continue.
    result<void> answer(const reply& r, std::string& out);

    /// The transport ended (EOF). Returns true if a message transaction was open.
    bool on_disconnect() noexcept;

    session_phase phase() const noexcept { return phase_; }
    bool negotiated() const noexcept { return phase_ != session_phase::awaiting_optneg; }
    const negotiated_options& options() const noexcept { return options_; }
    const macro_table& macros() const noexcept { return macros_; }
    /// The command an answer is owed to, if any.
    std::optional<command_kind> awaiting_answer() const noexcept { return owed_; }

private:
    result<session_event> on_message_command(command_kind k);
    session_event deliver(command_kind k, bool aborted = false);
    bool reset_message(bool forget_macros = true) noexcept;

    std::shared_ptr<const negotiation_request> request_; // owning, or not (above)
    negotiated_options options_{};
    macro_table macros_;
    session_phase phase_ = session_phase::awaiting_optneg;
    int message_stage_ = 0;                 // 0: none; MAIL=1 ... end of body=7
    std::optional<command_kind> owed_;      // command awaiting our answer
    bool owed_silent_ = false;              // ... but the MTA waits for none (NR)
    bool replacing_body_ = false;           // inside the contiguous run of REPLBODY packets
    bool body_replaced_ = false;            // a run of REPLBODY ended: no more allowed
};

} // namespace cppmilter::proto
