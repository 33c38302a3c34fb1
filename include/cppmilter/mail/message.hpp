// The editable message of end of message: headers, envelope and body as values a filter
// changes, and the minimal modifications (ADDHEADER, INSHEADER, CHGHEADER, ADDRCPT(_PAR),
// DELRCPT, CHGFROM, REPLBODY) that turn what the MTA sent into what the filter left.
#pragma once

#include <cppmilter/dsl/message.hpp>
#include <cppmilter/proto/replies.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cppmilter::mail {

/// Whose header-index rules the modifications follow (PROTOCOL.md §7.6, docs/protocol.md).
/// They differ in one place: Postfix hides the Received header it added from the filter but
/// counts it in INSHEADER positions; Sendmail shows its own to the filter.
enum class mta_dialect { postfix, sendmail };

/// The dialect of the MTA that sent macro `v` (its version): "Postfix 3.7.5" is Postfix,
/// anything else Sendmail; no `v` at all, Postfix (which sends `v` only when asked).
mta_dialect dialect_from_version(std::optional<std::string_view> v) noexcept;

/// The headers of a message as an ordered list a filter edits: append, insert, change and
/// delete, by name and occurrence (1 = first, names compared case-insensitively) or by
/// position (0 = first header the MTA showed). Values are as the MTA hands them to a milter
/// (folded lines joined by "\n", one leading space removed: PROTOCOL.md §3.6); write new
/// values the same way (mail::fold, mail::encode_unstructured help).
class header_list {
public:
    header_list() = default;
    /// Starts over from the headers the MTA sent (viewed, not copied: they must outlive this).
    void reset(std::span<const header_field> original);

    /// The headers present now (deleted ones are gone, added ones are in).
    std::size_t size() const noexcept { return present_; }
    std::string_view name(std::size_t position) const { return name_of(slot_at(position)); }
    std::string_view value(std::size_t position) const { return value_of(slot_at(position)); }

    /// The position of occurrence `occurrence` of `name`, if there is one.
    std::optional<std::size_t> find(std::string_view name, std::size_t occurrence = 1) const noexcept;
    /// The value of occurrence `occurrence` of `name`, if there is one.
    std::optional<std::string_view> get(std::string_view name, std::size_t occurrence = 1) const noexcept;
    /// How many headers called `name` there are.
    std::size_t count(std::string_view name) const noexcept;

    /// Adds a header after the last one.
    void append(std::string name, std::string value);
    /// Adds a header before the one at `position`; 0 is the top of the message (above the
    /// MTA's own Received header too); size() appends. Throws std::out_of_range past size().
    void insert(std::size_t position, std::string name, std::string value);
    /// Changes occurrence `occurrence` of `name`; false if there is no such header.
    bool set(std::string_view name, std::string value, std::size_t occurrence = 1);
    /// Changes the header at `position`. Throws std::out_of_range.
    void set_at(std::size_t position, std::string value);
    /// Deletes occurrence `occurrence` of `name`; false if there is no such header.
    bool remove(std::string_view name, std::size_t occurrence = 1);
    /// Deletes the header at `position`. Throws std::out_of_range.
    void remove_at(std::size_t position);
    /// Deletes every header called `name`; returns how many.
    std::size_t remove_all(std::string_view name);

    /// Whether anything was changed since reset() (set back to what it was counts).
    bool edited() const noexcept { return edited_; }

    /// Appends to `out` the modifications that turn the MTA's headers into these, in an
    /// order whose indexes mean the same on every MTA: insertions first (top down, into a
    /// list with nothing deleted yet), then changes and deletions from the bottom up (an
    /// occurrence is counted before anything above it changes), then additions at the end.
    /// The replies view this list: valid until it changes.
    void diff(mta_dialect dialect, std::vector<proto::reply>& out) const;

private:
    static constexpr std::uint32_t added = UINT32_MAX;
    struct slot {
        std::uint32_t original = added; ///< index among the MTA's headers, or `added`
        bool deleted = false;
        bool changed = false;           ///< an original whose value was set
        std::string name, value;        ///< for added headers; value also for changed ones
    };
    std::string_view name_of(const slot& s) const noexcept;
    std::string_view value_of(const slot& s) const noexcept;
    std::size_t slot_index(std::size_t position) const;
    const slot& slot_at(std::size_t position) const { return slots_[slot_index(position)]; }
    std::optional<std::size_t> find_slot(std::string_view name, std::size_t occurrence) const noexcept;
    void erase(std::size_t index);

    std::span<const header_field> original_;
    std::vector<slot> slots_; ///< in message order, deleted originals kept for the diff
    std::size_t present_ = 0;
    bool edited_ = false;
};

/// An envelope address without its angle brackets: "<a@b>" → "a@b"; anything else as it is.
constexpr std::string_view unbracketed(std::string_view address) noexcept {
    if (address.size() >= 2 && address.front() == '<' && address.back() == '>') return address.substr(1, address.size() - 2);
    return address;
}

/// An envelope recipient: the address as in RCPT ("<a@b>") and its ESMTP parameters.
struct recipient {
    std::string address;
    std::string esmtp_args; ///< "NOTIFY=NEVER ORCPT=rfc822;a@b"; empty: none
};

/// The envelope recipients as a list a filter edits.
class recipient_list {
public:
    void reset() {
        now_.clear();
        original_.clear();
        edited_ = false;
    }
    /// A recipient the MTA sent (the connection records them).
    void received(std::string address, std::string esmtp_args);
    /// The MTA did not take the last one (a reject at RCPT).
    void drop_last_received();

    std::span<const recipient> all() const noexcept { return now_; }
    std::size_t size() const noexcept { return now_.size(); }
    /// Whether `address` is a recipient ("<a@b>" or "a@b"; the domain case-insensitively).
    bool contains(std::string_view address) const noexcept;
    /// Adds a recipient, with ESMTP parameters if any (ADDRCPT_PAR). No-op if present.
    void add(std::string address, std::string esmtp_args = {});
    /// Removes a recipient; false if it was not one.
    bool remove(std::string_view address);

    /// DELRCPT for each recipient removed (as it arrived in RCPT), then ADDRCPT(_PAR) for each
    /// added; views into this list.
    void diff(std::vector<proto::reply>& out) const;

private:
    void keep_original(); ///< before the first edit: what the MTA sent, for the diff
    std::vector<recipient> now_, original_; ///< original_ only once edited
    bool edited_ = false;
};

/// Everything an end-of-message filter may change, over what the MTA sent. Sans-I/O: a test
/// fills it with reset()/received_*(), edits it and reads diff().
class message_editor {
public:
    /// Forgets the last message. The headers and body are viewed (they must outlive the editor).
    void reset(std::span<const header_field> headers, std::string_view body = {});
    /// The envelope sender as MAIL carried it ("<a@b>", "<>") with its ESMTP parameters.
    void received_sender(std::string address, std::string esmtp_args);

    header_list& headers() noexcept { return headers_; }
    const header_list& headers() const noexcept { return headers_; }
    recipient_list& recipients() noexcept { return recipients_; }
    const recipient_list& recipients() const noexcept { return recipients_; }

    std::string_view sender() const noexcept { return new_sender_ ? new_sender_->first : sender_; }
    std::string_view sender_esmtp_args() const noexcept { return new_sender_ ? new_sender_->second : sender_args_; }
    /// Replaces the envelope sender ("<new@example.org>"); CHGFROM if it differs.
    void set_sender(std::string address, std::string esmtp_args = {});

    /// The body as it is now (CRLF line ends).
    std::string_view body() const noexcept { return new_body_ ? std::string_view{*new_body_} : original_body_; }
    /// Replaces the body (CRLF line ends); REPLBODY if it differs.
    void replace_body(std::string new_body) { new_body_ = std::move(new_body); }

    /// Appends the modifications to `out`, in the order the MTA must apply them: headers,
    /// recipients, sender, body. Nothing is computed for a part that was not edited. The
    /// replies view this editor: valid until it changes.
    void diff(mta_dialect dialect, std::vector<proto::reply>& out) const;

private:
    header_list headers_;
    recipient_list recipients_;
    std::string sender_, sender_args_;
    std::optional<std::pair<std::string, std::string>> new_sender_; ///< address, ESMTP args
    std::string_view original_body_;
    std::optional<std::string> new_body_;
};

} // namespace cppmilter::mail
