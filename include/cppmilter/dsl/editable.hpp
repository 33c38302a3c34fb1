// The editable message an end-of-message hook may take: what it may change is in its type.
//
//     cm::on_end_of_message([](cm::editable<cm::edit::headers, cm::edit::recipients>& msg) {
//         msg.remove_header("X-Internal");
//         msg.add_recipient("<archive@example.org>");
//     })
//
// The framework keeps what the MTA sent, lets the hook edit it, and sends the minimal
// modifications with the MTA's index rules (mail::message_editor::diff).
#pragma once

#include <cppmilter/mail/message.hpp>
#include <cppmilter/proto/constants.hpp>

#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace cppmilter {

/// What an end-of-message hook may edit, listed in cm::editable<...>.
namespace edit {
struct headers {    ///< append, insert, change, delete headers (ADDHDRS, CHGHDRS)
    static constexpr proto::action_set actions = proto::action_set{proto::action::add_headers} | proto::action::change_headers;
};
struct recipients { ///< add and remove envelope recipients (ADDRCPT, ADDRCPT_PAR, DELRCPT)
    static constexpr proto::action_set actions = proto::action_set{proto::action::add_rcpt} | proto::action::add_rcpt_with_args |
                                                 proto::action::del_rcpt;
};
struct sender {     ///< replace the envelope sender (CHGFROM)
    static constexpr proto::action_set actions{proto::action::change_from};
};
struct body {       ///< read and replace the body (CHGBODY); the body is kept for it
    static constexpr proto::action_set actions{proto::action::change_body};
};
} // namespace edit

namespace detail {
template <class T>
inline constexpr bool is_edit_kind = std::is_same_v<T, edit::headers> || std::is_same_v<T, edit::recipients> ||
                                     std::is_same_v<T, edit::sender> || std::is_same_v<T, edit::body>;
} // namespace detail

/// The message at end of message, editable in the ways `Edits` lists. Everything can be read;
/// only what is declared can be changed (anything else is a compile error that says so), and
/// negotiation asks the MTA for exactly those actions. A handle: valid during the hook.
template <class... Edits>
class editable {
    static_assert(sizeof...(Edits) > 0 && (detail::is_edit_kind<Edits> && ...),
                  "cppmilter: cm::editable<...> lists what the hook may edit: cm::edit::headers, "
                  "cm::edit::recipients, cm::edit::sender, cm::edit::body");

public:
    template <class E>
    static constexpr bool declares = (std::is_same_v<E, Edits> || ...);
    /// The actions the declared edits need.
    static constexpr proto::action_set actions = (proto::action_set{} | ... | Edits::actions);

    explicit editable(mail::message_editor& editor) noexcept : editor_{&editor} {}

    // ---- reading (always)

    /// The headers as they are now (PROTOCOL.md §3.6 values: folded with "\n").
    const mail::header_list& headers() const noexcept { return editor_->headers(); }
    /// The value of occurrence `occurrence` of header `name` (case-insensitive).
    std::optional<std::string_view> header(std::string_view name, std::size_t occurrence = 1) const noexcept {
        return editor_->headers().get(name, occurrence);
    }
    /// Whether the envelope is kept for this hook (it declares recipients or sender).
    static constexpr bool keeps_envelope = declares<edit::recipients> || declares<edit::sender>;

    /// The envelope sender as MAIL carried it ("<a@b>", "<>"), or as set. Kept only for a hook
    /// that declares cm::edit::sender or cm::edit::recipients.
    template <bool Kept = keeps_envelope>
    std::string_view sender() const noexcept {
        static_assert(Kept, "cppmilter: the envelope is kept only for a hook that declares cm::edit::sender "
                            "or cm::edit::recipients (or read it at MAIL and RCPT)");
        return editor_->sender();
    }
    /// The envelope recipients as RCPT carried them, or as edited. Kept only for a hook that
    /// declares cm::edit::sender or cm::edit::recipients.
    template <bool Kept = keeps_envelope>
    std::span<const mail::recipient> recipients() const noexcept {
        static_assert(Kept, "cppmilter: the envelope is kept only for a hook that declares cm::edit::sender "
                            "or cm::edit::recipients (or read it at MAIL and RCPT)");
        return editor_->recipients().all();
    }
    /// The body (CRLF line ends). Kept only for a hook that declares cm::edit::body.
    template <class E = edit::body>
    std::string_view body() const noexcept {
        static_assert(declares<E>, "cppmilter: the body is kept only for a hook that declares cm::edit::body "
                                   "(or reads it as cm::whole_message)");
        return editor_->body();
    }

    // ---- headers

    void append_header(std::string name, std::string value) {
        allowed<edit::headers>();
        editor_->headers().append(std::move(name), std::move(value));
    }
    /// Before the header at `position`; 0 is the top of the message, above the MTA's own
    /// Received header (where a DKIM signature goes).
    void insert_header(std::size_t position, std::string name, std::string value) {
        allowed<edit::headers>();
        editor_->headers().insert(position, std::move(name), std::move(value));
    }
    /// Changes occurrence `occurrence` of `name`; false if there is none.
    bool set_header(std::string_view name, std::string value, std::size_t occurrence = 1) {
        allowed<edit::headers>();
        return editor_->headers().set(name, std::move(value), occurrence);
    }
    /// Deletes occurrence `occurrence` of `name`; false if there is none.
    bool remove_header(std::string_view name, std::size_t occurrence = 1) {
        allowed<edit::headers>();
        return editor_->headers().remove(name, occurrence);
    }
    /// Deletes every header called `name`; returns how many.
    std::size_t remove_headers(std::string_view name) {
        allowed<edit::headers>();
        return editor_->headers().remove_all(name);
    }
    /// The whole list, for edits by position.
    mail::header_list& edit_headers() {
        allowed<edit::headers>();
        return editor_->headers();
    }

    // ---- envelope

    /// Adds a recipient ("<a@b>"), with ESMTP parameters ("NOTIFY=NEVER") if any.
    void add_recipient(std::string address, std::string esmtp_args = {}) {
        allowed<edit::recipients>();
        editor_->recipients().add(std::move(address), std::move(esmtp_args));
    }
    /// Removes a recipient; false if it was not one.
    bool remove_recipient(std::string_view address) {
        allowed<edit::recipients>();
        return editor_->recipients().remove(address);
    }
    /// Replaces the envelope sender ("<a@b>"), with ESMTP parameters if any.
    void set_sender(std::string address, std::string esmtp_args = {}) {
        allowed<edit::sender>();
        editor_->set_sender(std::move(address), std::move(esmtp_args));
    }

    // ---- body

    /// Replaces the body (CRLF line ends).
    void replace_body(std::string new_body) {
        allowed<edit::body>();
        editor_->replace_body(std::move(new_body));
    }

private:
    template <class E>
    static constexpr void allowed() {
        static_assert(declares<E> || !std::is_same_v<E, edit::headers>,
                      "cppmilter: this hook may not edit headers: declare it in its parameter, "
                      "cm::editable<cm::edit::headers, ...>&");
        static_assert(declares<E> || !std::is_same_v<E, edit::recipients>,
                      "cppmilter: this hook may not edit recipients: declare it in its parameter, "
                      "cm::editable<cm::edit::recipients, ...>&");
        static_assert(declares<E> || !std::is_same_v<E, edit::sender>,
                      "cppmilter: this hook may not change the sender: declare it in its parameter, "
                      "cm::editable<cm::edit::sender, ...>&");
        static_assert(declares<E> || !std::is_same_v<E, edit::body>,
                      "cppmilter: this hook may not replace the body: declare it in its parameter, "
                      "cm::editable<cm::edit::body, ...>&");
    }

    mail::message_editor* editor_;
};

namespace detail {
template <class T>
struct is_editable : std::false_type {};
template <class... E>
struct is_editable<editable<E...>> : std::true_type {};
} // namespace detail

} // namespace cppmilter
