// What a milter answered to one MTA command: owned, decoded replies (client library, test harness).
#pragma once

#include <cppmilter/proto/decoder.hpp>
#include <cppmilter/proto/replies.hpp>

#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cppmilter::client {

/// What the milter answered to one MTA command, decoded from the bytes it wrote. The replies
/// view the decoder's buffer, which this object shares: they stay valid as long as any copy
/// of it lives.
class answers {
public:
    answers() = default;
    /// Decodes `bytes` (whole reply packets). `sent` false: the MTA did not send the command.
    /// Throws std::runtime_error on a malformed reply.
    explicit answers(std::string_view bytes, bool sent = true)
        : decoded_{std::make_shared<proto::reply_decoder>()}, sent_{sent} {
        decoded_->feed(bytes);
        while (auto r = decoded_->next()) {
            if (!*r) throw std::runtime_error("the milter wrote a malformed reply: " + r->error().message());
            items_.push_back(r->value());
        }
    }

    const std::vector<proto::reply>& replies() const noexcept { return items_; }
    /// False when the MTA did not send the command (the milter switched it off with a NO* bit).
    bool sent() const noexcept { return sent_; }
    bool empty() const noexcept { return items_.empty(); }
    /// The last reply (the verdict of a complete answer), or nullptr when there is none.
    const proto::reply* last() const noexcept { return items_.empty() ? nullptr : &items_.back(); }
    /// "ADDHEADER name=\"X\" value=\"y\"; CONTINUE"; "(no answer)"; "(not sent)".
    std::string str() const {
        if (!sent_) return "(not sent)";
        if (items_.empty()) return "(no answer)";
        std::ostringstream os;
        for (std::size_t i = 0; i < items_.size(); ++i) os << (i ? "; " : "") << items_[i];
        return os.str();
    }
    friend bool operator==(const answers& a, std::string_view expected) { return a.str() == expected; }
    friend std::ostream& operator<<(std::ostream& os, const answers& a) { return os << a.str(); }

private:
    std::shared_ptr<proto::reply_decoder> decoded_; // owns the bytes the replies view
    std::vector<proto::reply> items_;
    bool sent_ = true;
};

} // namespace cppmilter::client
