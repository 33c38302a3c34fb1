#include <cppmilter/mail/message.hpp>

#include <algorithm>
#include <stdexcept>

namespace cppmilter::mail {

using cppmilter::detail::iequals; // the core's: the editor needs nothing of the toolkit's libraries

mta_dialect dialect_from_version(std::optional<std::string_view> v) noexcept {
    if (!v || v->starts_with("Postfix")) return mta_dialect::postfix;
    return mta_dialect::sendmail;
}

// ---------------------------------------------------------------- header_list

void header_list::reset(std::span<const header_field> original) {
    original_ = original;
    slots_.resize(original.size());
    for (std::size_t i = 0; i < original.size(); ++i) {
        auto& s = slots_[i]; // strings keep their capacity from message to message
        s.original = static_cast<std::uint32_t>(i);
        s.deleted = s.changed = false;
        s.name.clear();
        s.value.clear();
    }
    present_ = original.size();
    edited_ = false;
}

std::string_view header_list::name_of(const slot& s) const noexcept {
    return s.original == added ? std::string_view{s.name} : std::string_view{original_[s.original].name};
}
std::string_view header_list::value_of(const slot& s) const noexcept {
    return s.original == added || s.changed ? std::string_view{s.value} : std::string_view{original_[s.original].value};
}

std::size_t header_list::slot_index(std::size_t position) const {
    if (position >= present_) throw std::out_of_range("cppmilter::mail::header_list: no header at that position");
    for (std::size_t i = 0;; ++i)
        if (!slots_[i].deleted && position-- == 0) return i;
}

std::optional<std::size_t> header_list::find_slot(std::string_view name, std::size_t occurrence) const noexcept {
    if (occurrence == 0) return std::nullopt;
    for (std::size_t i = 0; i < slots_.size(); ++i)
        if (!slots_[i].deleted && iequals(name_of(slots_[i]), name) && --occurrence == 0) return i;
    return std::nullopt;
}

std::optional<std::size_t> header_list::find(std::string_view name, std::size_t occurrence) const noexcept {
    auto index = find_slot(name, occurrence);
    if (!index) return std::nullopt;
    return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(*index),
                                                  [](const slot& s) { return !s.deleted; }));
}

std::optional<std::string_view> header_list::get(std::string_view name, std::size_t occurrence) const noexcept {
    if (auto index = find_slot(name, occurrence)) return value_of(slots_[*index]);
    return std::nullopt;
}

std::size_t header_list::count(std::string_view name) const noexcept {
    return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [&](const slot& s) {
        return !s.deleted && iequals(name_of(s), name);
    }));
}

void header_list::append(std::string name, std::string value) {
    edited_ = true;
    slots_.push_back(slot{added, false, false, std::move(name), std::move(value)});
    ++present_;
}

void header_list::insert(std::size_t position, std::string name, std::string value) {
    if (position > present_) throw std::out_of_range("cppmilter::mail::header_list: insert past the end");
    edited_ = true;
    // Position 0 is the very top, even above deleted originals; others go right before the
    // present header at `position`.
    const std::size_t index = position == 0 ? 0 : position == present_ ? slots_.size() : slot_index(position);
    slots_.insert(slots_.begin() + static_cast<std::ptrdiff_t>(index), slot{added, false, false, std::move(name), std::move(value)});
    ++present_;
}

bool header_list::set(std::string_view name, std::string value, std::size_t occurrence) {
    auto index = find_slot(name, occurrence);
    if (!index) return false;
    set_at(static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(*index),
                                                  [](const slot& s) { return !s.deleted; })),
           std::move(value));
    return true;
}

void header_list::set_at(std::size_t position, std::string value) {
    auto& s = slots_[slot_index(position)];
    edited_ = true;
    if (s.original != added) s.changed = true;
    s.value = std::move(value);
}

void header_list::erase(std::size_t index) {
    edited_ = true;
    auto& s = slots_[index];
    if (s.original == added) slots_.erase(slots_.begin() + static_cast<std::ptrdiff_t>(index));
    else s.deleted = true; // kept: the diff needs its place
    --present_;
}

bool header_list::remove(std::string_view name, std::size_t occurrence) {
    auto index = find_slot(name, occurrence);
    if (!index) return false;
    erase(*index);
    return true;
}

void header_list::remove_at(std::size_t position) { erase(slot_index(position)); }

std::size_t header_list::remove_all(std::string_view name) {
    std::size_t n = 0;
    while (remove(name, 1)) ++n;
    return n;
}

void header_list::diff(mta_dialect dialect, std::vector<proto::reply>& out) const {
    if (!edited_) return;
    // Slots up to the last original are in the MTA's list once the insertions are made;
    // added ones after it are appended at the end.
    std::size_t end_of_originals = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i)
        if (slots_[i].original != added) end_of_originals = i + 1;

    // 1. Insertions, top down: slot i lands at index i of a list in which nothing is deleted
    // yet. Postfix counts its own hidden Received header (+1), except at the very top.
    for (std::size_t i = 0; i < end_of_originals; ++i) {
        const auto& s = slots_[i];
        if (s.original != added) continue;
        const auto index = static_cast<std::uint32_t>(dialect == mta_dialect::postfix && i > 0 ? i + 1 : i);
        out.emplace_back(proto::insert_header{index, s.name, s.value});
    }
    // 2. Changes and deletions, bottom up: occurrence k of a name is counted over the list with
    // the insertions made and nothing above it changed, whether or not the MTA counts deleted
    // headers afterwards.
    for (std::size_t i = end_of_originals; i-- > 0;) {
        const auto& s = slots_[i];
        if (s.original == added) continue;
        const auto& before = original_[s.original];
        if (!s.deleted && (!s.changed || s.value == before.value)) continue;
        std::uint32_t occurrence = 0;
        for (std::size_t j = 0; j <= i; ++j)
            if (iequals(name_of(slots_[j]), before.name)) ++occurrence;
        out.emplace_back(proto::change_header{occurrence, before.name, s.deleted ? std::string_view{} : s.value});
    }
    // 3. Additions at the end, in order.
    for (std::size_t i = end_of_originals; i < slots_.size(); ++i)
        out.emplace_back(proto::add_header{slots_[i].name, slots_[i].value});
}

// ---------------------------------------------------------------- recipient_list

namespace {
/// Local parts are compared exactly (they may be case-sensitive), domains case-insensitively.
bool same_address(std::string_view a, std::string_view b) noexcept {
    a = unbracketed(a);
    b = unbracketed(b);
    if (a.size() != b.size()) return false;
    const auto at = a.rfind('@');
    if (at == std::string_view::npos || b.rfind('@') != at) return a == b;
    if (a.substr(0, at) != b.substr(0, at)) return false;
    return iequals(a.substr(at), b.substr(at));
}
std::string bracketed(std::string address) {
    if (address.empty() || address.front() != '<') address = "<" + address + ">";
    return address;
}
bool listed(std::span<const recipient> list, std::string_view address) noexcept {
    return std::any_of(list.begin(), list.end(), [&](const recipient& r) { return same_address(r.address, address); });
}
} // namespace

void recipient_list::received(std::string address, std::string esmtp_args) {
    now_.push_back({std::move(address), std::move(esmtp_args)});
}

void recipient_list::drop_last_received() {
    if (!now_.empty()) now_.pop_back();
}

void recipient_list::keep_original() {
    if (edited_) return;
    original_ = now_;
    edited_ = true;
}

bool recipient_list::contains(std::string_view address) const noexcept { return listed(now_, address); }

void recipient_list::add(std::string address, std::string esmtp_args) {
    if (contains(address)) return;
    keep_original();
    now_.push_back({bracketed(std::move(address)), std::move(esmtp_args)});
}

bool recipient_list::remove(std::string_view address) {
    auto it = std::find_if(now_.begin(), now_.end(), [&](const recipient& r) { return same_address(r.address, address); });
    if (it == now_.end()) return false;
    keep_original();
    now_.erase(it);
    return true;
}

void recipient_list::diff(std::vector<proto::reply>& out) const {
    if (!edited_) return;
    for (const auto& r : original_) // DELRCPT names the recipient as it arrived in RCPT
        if (!listed(now_, r.address)) out.emplace_back(proto::del_rcpt{r.address});
    for (const auto& r : now_) {
        if (listed(original_, r.address)) continue;
        if (r.esmtp_args.empty()) out.emplace_back(proto::add_rcpt{r.address});
        else out.emplace_back(proto::add_rcpt_with_args{r.address, r.esmtp_args});
    }
}

// ---------------------------------------------------------------- message_editor

void message_editor::reset(std::span<const header_field> headers, std::string_view body) {
    headers_.reset(headers);
    original_body_ = body;
    new_body_.reset();
}

void message_editor::received_sender(std::string address, std::string esmtp_args) {
    sender_ = std::move(address);
    sender_args_ = std::move(esmtp_args);
    new_sender_.reset();
    recipients_.reset();
}

void message_editor::set_sender(std::string address, std::string esmtp_args) {
    if (address != "<>") address = bracketed(std::move(address));
    new_sender_.emplace(std::move(address), std::move(esmtp_args));
}

void message_editor::diff(mta_dialect dialect, std::vector<proto::reply>& out) const {
    headers_.diff(dialect, out);
    recipients_.diff(out);
    if (new_sender_ && (new_sender_->first != sender_ || new_sender_->second != sender_args_))
        out.emplace_back(proto::change_from{new_sender_->first, new_sender_->second});
    if (new_body_ && *new_body_ != original_body_) out.emplace_back(proto::replace_body{*new_body_});
}

} // namespace cppmilter::mail
