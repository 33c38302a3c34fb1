// What an end-of-message hook may change, and the result type that lists it.
#pragma once

#include <cppmilter/dsl/verdict.hpp>
#include <cppmilter/proto/constants.hpp>
#include <cppmilter/proto/replies.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <boost/container/small_vector.hpp>

namespace cppmilter {

/// Append a header (SMFIR_ADDHEADER).
struct add_header {
    std::string name, value;
    static constexpr proto::action needs = proto::action::add_headers;
    proto::reply to_reply() const { return proto::add_header{name, value}; }
};
/// Insert a header at `index` of the header list, 0 = top (SMFIR_INSHEADER).
struct insert_header {
    std::uint32_t index = 0;
    std::string name, value;
    static constexpr proto::action needs = proto::action::add_headers;
    proto::reply to_reply() const { return proto::insert_header{index, name, value}; }
};
/// Change occurrence `occurrence` (1 = first) of header `name` (SMFIR_CHGHEADER).
struct change_header {
    std::string name;
    std::uint32_t occurrence = 1;
    std::string value;
    static constexpr proto::action needs = proto::action::change_headers;
    proto::reply to_reply() const { return proto::change_header{occurrence, name, value}; }
};
/// Delete occurrence `occurrence` (1 = first) of header `name` (SMFIR_CHGHEADER, empty value).
struct delete_header {
    std::string name;
    std::uint32_t occurrence = 1;
    static constexpr proto::action needs = proto::action::change_headers;
    proto::reply to_reply() const { return proto::change_header{occurrence, name, {}}; }
};
/// Replace the whole body; CRLF line ends (SMFIR_REPLBODY, split in 65535-byte packets).
struct replace_body {
    std::string body;
    static constexpr proto::action needs = proto::action::change_body;
    proto::reply to_reply() const { return proto::replace_body{body}; }
};
/// Add an envelope recipient, "<a@b>" (SMFIR_ADDRCPT).
struct add_rcpt {
    std::string address;
    static constexpr proto::action needs = proto::action::add_rcpt;
    proto::reply to_reply() const { return proto::add_rcpt{address}; }
};
/// Add an envelope recipient with ESMTP parameters, "NOTIFY=NEVER" (SMFIR_ADDRCPT_PAR).
struct add_rcpt_with_args {
    std::string address, esmtp_args;
    static constexpr proto::action needs = proto::action::add_rcpt_with_args;
    proto::reply to_reply() const { return proto::add_rcpt_with_args{address, esmtp_args}; }
};
/// Remove an envelope recipient, as it arrived in RCPT (SMFIR_DELRCPT).
struct del_rcpt {
    std::string address;
    static constexpr proto::action needs = proto::action::del_rcpt;
    proto::reply to_reply() const { return proto::del_rcpt{address}; }
};
/// Replace the envelope sender, optionally with ESMTP parameters (SMFIR_CHGFROM).
struct change_from {
    std::string address, esmtp_args;
    static constexpr proto::action needs = proto::action::change_from;
    proto::reply to_reply() const { return proto::change_from{address, esmtp_args}; }
};
/// Put the message on hold with a reason (SMFIR_QUARANTINE). Not a verdict.
struct quarantine {
    std::string reason;
    static constexpr proto::action needs = proto::action::quarantine;
    proto::reply to_reply() const { return proto::quarantine{reason}; }
};

namespace detail {
template <> struct is_modification<add_header> : std::true_type {};
template <> struct is_modification<insert_header> : std::true_type {};
template <> struct is_modification<change_header> : std::true_type {};
template <> struct is_modification<delete_header> : std::true_type {};
template <> struct is_modification<replace_body> : std::true_type {};
template <> struct is_modification<add_rcpt> : std::true_type {};
template <> struct is_modification<add_rcpt_with_args> : std::true_type {};
template <> struct is_modification<del_rcpt> : std::true_type {};
template <> struct is_modification<change_from> : std::true_type {};
template <> struct is_modification<quarantine> : std::true_type {};

template <class T, class... Ts>
inline constexpr bool one_of = (std::is_same_v<T, Ts> || ...);
} // namespace detail

template <class T>
concept modification = detail::is_modification<T>::value;

/// The result of an end-of-message hook that may modify the message: the modifications it
/// may make are listed in its type, and negotiation asks the MTA for exactly their actions.
///
///     -> cm::eom<cm::add_header, cm::quarantine> {
///         cm::eom<cm::add_header, cm::quarantine> r;
///         r.add(cm::add_header{"X-Checked", "yes"});
///         return r;                       // verdict: next (accept with the changes)
///     }
template <modification... Mods>
class eom {
public:
    using modification_type = std::variant<Mods...>;
    static constexpr proto::action_set actions = (proto::action_set{} | ... | proto::action_set{Mods::needs});

    eom() = default;
    eom(verdict v) : verdict_{std::move(v)} {} // NOLINT: implicit, so `return cm::reject;` works
    eom(next_t v) : verdict_{v} {}
    eom(accept_t v) : verdict_{v} {}
    eom(reject_t v) : verdict_{v} {}
    eom(tempfail_t v) : verdict_{v} {}
    eom(discard_t v) : verdict_{v} {}
    eom(smtp_reply v) : verdict_{std::move(v)} {}
    /// One modification, verdict next: `return cm::add_header{"X", "y"};`.
    template <modification M>
    eom(M m) { add(std::move(m)); } // NOLINT: implicit by design

    /// Adds a modification; the MTA applies them in order.
    template <modification M>
    eom& add(M m) {
        static_assert(detail::one_of<M, Mods...>,
                      "cppmilter: this modification is not listed in the hook's result type: add it "
                      "to cm::eom<...> so that its action is negotiated");
        if constexpr (detail::one_of<M, Mods...>) // else just the assert, no std::variant errors
            modifications_.emplace_back(std::move(m));
        return *this;
    }
    /// Sets the final verdict (next = accept with the modifications).
    eom& set_verdict(verdict v) {
        verdict_ = std::move(v);
        return *this;
    }

    const verdict& final_verdict() const noexcept { return verdict_; }
    std::span<const modification_type> modifications() const noexcept { return modifications_; }

private:
    verdict verdict_ = next;
    boost::container::small_vector<modification_type, 2> modifications_; // no allocation for 1 or 2
};

namespace detail {
template <class T>
struct is_eom : std::false_type {};
template <class... Mods>
struct is_eom<eom<Mods...>> : std::true_type {};
} // namespace detail

} // namespace cppmilter
