// Verdicts a hook returns. Which ones a stage may return is part of its type.
#pragma once

#include <cppmilter/proto/replies.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace cppmilter {

struct next_t { explicit constexpr next_t() = default; };
struct accept_t { explicit constexpr accept_t() = default; };
struct reject_t { explicit constexpr reject_t() = default; };
struct tempfail_t { explicit constexpr tempfail_t() = default; };
struct discard_t { explicit constexpr discard_t() = default; };
struct skip_t { explicit constexpr skip_t() = default; };

/// Go on (SMFIR_CONTINUE); at end of message: accept the message with its modifications.
inline constexpr next_t next{};
/// Accept: no more events for this message (or, at connect/helo, for this connection).
inline constexpr accept_t accept{};
/// Reject with the MTA's own 5xx text; at rcpt: this recipient only.
inline constexpr reject_t reject{};
/// Temporary failure with the MTA's own 4xx text.
inline constexpr tempfail_t tempfail{};
/// Accept the message and drop it silently (not at connect or helo).
inline constexpr discard_t discard{};
/// Body only: "I have seen enough of the body", go to end of message.
inline constexpr skip_t skip{};

/// A custom SMTP reply: reject (5xx) or tempfail (4xx) with this text.
class smtp_reply {
public:
    /// `text` may hold several lines separated by "\n"; `%` is escaped for you. Throws
    /// std::invalid_argument if the reply breaks the protocol's rules (a 2xx code, an enhanced
    /// code of another class, lines over 980 bytes, ...).
    smtp_reply(unsigned code, std::string_view enhanced_code, std::string_view text) {
        auto formatted = proto::format_smtp_reply(code, enhanced_code, text);
        if (!formatted) throw std::invalid_argument("cppmilter::reply: " + formatted.error().message());
        wire_ = std::move(*formatted);
    }
    /// The text as it goes on the wire.
    const std::string& wire_text() const noexcept { return wire_; }
    friend bool operator==(const smtp_reply&, const smtp_reply&) = default;

private:
    std::string wire_;
};

/// reply(550, "5.7.1", "sender blocked") → "550 5.7.1 sender blocked".
inline smtp_reply reply(unsigned code, std::string_view enhanced_code, std::string_view text) {
    return {code, enhanced_code, text};
}
inline smtp_reply reply(unsigned code, std::string_view text) { return {code, {}, text}; }

namespace detail {
template <class T>
inline constexpr bool always_false = false;
template <class T>
struct is_modification : std::false_type {};
} // namespace detail

/// The verdict of any stage but body (no skip) and end of message (no modifications).
class verdict {
public:
    enum class kind { next, accept, reject, tempfail, discard, reply, skip };

    constexpr verdict(next_t) noexcept {}
    constexpr verdict(accept_t) noexcept : kind_{kind::accept} {}
    constexpr verdict(reject_t) noexcept : kind_{kind::reject} {}
    constexpr verdict(tempfail_t) noexcept : kind_{kind::tempfail} {}
    constexpr verdict(discard_t) noexcept : kind_{kind::discard} {}
    verdict(smtp_reply r) : kind_{kind::reply}, text_{std::move(r).wire_text()} {}

    // Readable errors for what a plain verdict cannot be.
    template <class S = skip_t>
        requires std::is_same_v<S, skip_t>
    verdict(S) {
        static_assert(detail::always_false<S>,
                      "cppmilter: skip can only be returned by a body hook (declare its return type "
                      "as cm::body_verdict)");
    }
    template <class M>
        requires detail::is_modification<M>::value
    verdict(M) {
        static_assert(detail::always_false<M>,
                      "cppmilter: a modification can only be returned at end of message: use "
                      "on_end_of_message and return cm::eom<...> listing this modification");
    }

    constexpr kind what() const noexcept { return kind_; }
    constexpr bool is_next() const noexcept { return kind_ == kind::next; }
    /// For kind::reply: the SMTP reply as it goes on the wire.
    const std::string& reply_text() const noexcept { return text_; }

    /// The protocol reply carrying this verdict (views into this object).
    proto::reply to_reply() const {
        switch (kind_) {
        case kind::next: return proto::continue_{};
        case kind::accept: return proto::accept{};
        case kind::reject: return proto::reject{};
        case kind::tempfail: return proto::tempfail{};
        case kind::discard: return proto::discard{};
        case kind::reply: return proto::smtp_reply{text_};
        case kind::skip: return proto::skip{};
        }
        return proto::continue_{};
    }
    friend bool operator==(const verdict&, const verdict&) = default;

protected:
    struct skip_tag {};
    explicit constexpr verdict(skip_tag) noexcept : kind_{kind::skip} {}

private:
    kind kind_ = kind::next;
    std::string text_;
};

/// The verdict of a body hook: any verdict, or skip.
class body_verdict : public verdict {
public:
    using verdict::verdict;
    constexpr body_verdict(skip_t) noexcept : verdict{skip_tag{}} {}
    body_verdict(verdict v) : verdict{std::move(v)} {}
};

} // namespace cppmilter
