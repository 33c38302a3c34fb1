// Typed protocol errors: what was wrong and where (command, field).
#pragma once

#include <cppmilter/proto/constants.hpp>

#include <cassert>
#include <iosfwd>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace cppmilter::proto {

/// What went wrong. Also an std::error_code enum (category "cppmilter.proto").
enum class errc {
    zero_length = 1,        ///< a length field of 0 (§1.2: never 0)
    packet_too_large,       ///< payload longer than the negotiated maximum
    unknown_command,        ///< MTA sent a letter that is no SMFIC_* command
    unknown_reply,          ///< filter sent a letter that is no SMFIR_* response
    truncated,              ///< a fixed-size field runs past the end of the payload
    missing_nul,            ///< a string is not NUL-terminated
    embedded_nul,           ///< a string to encode holds a NUL (it would end early on the wire)
    unexpected_payload,     ///< bytes where the packet must end (or must be empty)
    unsupported_version,    ///< OPTNEG with a version below 2
    unknown_address_family, ///< CONNECT family not one of 4 6 L U
    out_of_order,           ///< a command that the session state does not allow
    session_closed,         ///< anything after QUIT
    actions_not_offered,    ///< the filter needs actions the MTA did not offer
    not_negotiated,         ///< a reply that needs an action or feature not negotiated
    reply_not_expected,     ///< a reply where the MTA waits for none (NR bit, MACRO, ...)
    invalid_reply_text,     ///< a REPLYCODE text that breaks §4.6
    empty_field,            ///< a field that must not be empty (QUARANTINE reason, ...)
    version_not_offered,    ///< filter answered OPTNEG with a version above the MTA's
};

std::string_view to_string(errc e) noexcept;
const std::error_category& protocol_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), protocol_category()}; }

/// A protocol error with its place: the command (or reply) letter and the field or state.
struct error {
    errc code{};
    char command = 0;        ///< command or reply letter; 0 where no packet is concerned
    std::string_view field;  ///< the field, or for out_of_order the state it arrived in (static text)
    action_set actions{};    ///< for actions_not_offered / not_negotiated: the missing actions

    /// One readable line, e.g. "CONNECT: field 'address' is not NUL-terminated".
    std::string message() const;
    friend bool operator==(const error&, const error&) = default;
};
std::ostream& operator<<(std::ostream& os, const error& e);

/// Either a value or an error (a small std::expected stand-in for C++20).
template <class T>
class [[nodiscard]] result {
public:
    template <class U = T>
        requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::remove_cvref_t<U>, result> &&
                 !std::is_same_v<std::remove_cvref_t<U>, proto::error>)
    result(U&& value) : v_{std::in_place_index<0>, std::forward<U>(value)} {} // NOLINT: implicit by design
    result(proto::error e) : v_{std::in_place_index<1>, e} {}                // NOLINT: implicit by design

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }
    T& value() & { assert(has_value()); return std::get<0>(v_); }
    const T& value() const& { assert(has_value()); return std::get<0>(v_); }
    T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const proto::error& error() const { assert(!has_value()); return std::get<1>(v_); }

private:
    std::variant<T, proto::error> v_;
};

template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(proto::error e) : e_{e}, failed_{true} {} // NOLINT: implicit by design
    bool has_value() const noexcept { return !failed_; }
    explicit operator bool() const noexcept { return has_value(); }
    const proto::error& error() const { assert(failed_); return e_; }

private:
    proto::error e_{};
    bool failed_ = false;
};

} // namespace cppmilter::proto

template <>
struct std::is_error_code_enum<cppmilter::proto::errc> : std::true_type {};
