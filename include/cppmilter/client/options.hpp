// What both MTA-side clients share: their options, the offers of real MTAs, the negotiated
// result, the answers to end of message, and the error they throw.
#pragma once

#include <cppmilter/client/answers.hpp>
#include <cppmilter/proto/constants.hpp>
#include <cppmilter/proto/decoder.hpp>
#include <cppmilter/proto/session.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace cppmilter::client {

/// Connecting failed, the milter did not answer in time, closed the connection, wrote
/// something undecodable, or broke the protocol (the message names the violation).
struct client_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// What Postfix 3.x offers: version 6, every action, every protocol bit.
constexpr proto::optneg postfix_offer() noexcept { return {6, proto::all_actions, proto::all_protocol}; }
/// What Sendmail 8.14+ offers: version 6, actions 0x1FF, protocol 0x1FFFFF.
constexpr proto::optneg sendmail_offer() noexcept {
    return {6, proto::action_set::from_bits(0x1FF), proto::protocol_set::from_bits(0x1FFFFF)};
}
/// An old MTA speaking version 2 (Sendmail 8.12): no DATA, no UNKNOWN, v2 masks.
constexpr proto::optneg v2_offer() noexcept { return {2, proto::v2_actions, proto::v2_protocol}; }

struct client_options {
    proto::optneg offer = postfix_offer();
    /// Connect, OPTNEG, CONNECT, HELO, MAIL, RCPT, DATA, UNKNOWN (milter_command_timeout).
    std::chrono::milliseconds command_timeout{std::chrono::seconds{30}};
    /// HEADER, EOH, BODY, end of message (milter_content_timeout).
    std::chrono::milliseconds content_timeout{std::chrono::seconds{300}};
    /// Largest reply payload accepted.
    std::size_t max_payload = proto::default_max_payload;
    /// Send an (empty) MACRO packet before every event, as Postfix does.
    bool postfix_macros = true;
};

/// The milter's OPTNEG reply, owned.
struct negotiation {
    std::uint32_t version = 0;
    proto::action_set actions{};
    proto::protocol_set protocol{};
    /// Macro lists per macro_stage, as the milter asked for them (nullopt: none asked).
    std::array<std::optional<std::string>, proto::macro_stage_count> macros{};

    proto::negotiated_options options() const noexcept { return {version, actions, protocol}; }
};

/// The answers to end of message: modifications in the order received, then the verdict
/// (the last reply). PROGRESS replies are not in `all`, only counted.
struct eom_result {
    answers all;
    std::size_t progress = 0;
};

} // namespace cppmilter::client
