// Messages on the MTA side: RFC 5322 in and out, and the milter's modifications applied.
#include <cppmilter/client/client.hpp>
#include <cppmilter/dsl/message.hpp>
#include <cppmilter/mail/message.hpp>

#include <algorithm>
#include <variant>

namespace cppmilter::client {
namespace {

using cppmilter::detail::iequals;
using cppmilter::mail::unbracketed;

struct applier {
    message& m;
    bool& in_body_run; // the previous modification was REPLBODY

    void operator()(const proto::add_header& r) const { m.headers.emplace_back(r.name, r.value); }
    void operator()(const proto::insert_header& r) const {
        const auto at = std::min<std::size_t>(r.index, m.headers.size());
        m.headers.insert(m.headers.begin() + static_cast<std::ptrdiff_t>(at), {std::string{r.name}, std::string{r.value}});
    }
    void operator()(const proto::change_header& r) const {
        const std::uint32_t wanted = r.index == 0 ? 1 : r.index;
        std::uint32_t seen = 0;
        for (auto it = m.headers.begin(); it != m.headers.end(); ++it) {
            if (!iequals(it->first, r.name) || ++seen != wanted) continue;
            if (r.value.empty()) m.headers.erase(it);
            else it->second = std::string{r.value};
            return;
        }
        if (!r.value.empty()) m.headers.emplace_back(r.name, r.value);
    }
    void operator()(const proto::replace_body& r) const {
        if (!in_body_run) m.body.clear();
        m.body.append(r.chunk);
    }
    void operator()(const proto::add_rcpt& r) const { m.recipients.emplace_back(r.rcpt); }
    void operator()(const proto::add_rcpt_with_args& r) const { m.recipients.emplace_back(r.rcpt); }
    void operator()(const proto::del_rcpt& r) const {
        std::erase_if(m.recipients, [&](const std::string& x) { return iequals(unbracketed(x), unbracketed(r.rcpt)); });
    }
    void operator()(const proto::change_from& r) const { m.sender = std::string{r.sender}; }
    void operator()(const proto::quarantine& r) const { m.quarantine.emplace_back(r.reason); }
    template <class Other>
    void operator()(const Other&) const {} // verdicts, progress
};

} // namespace

void apply(const eom_result& eom, message& m) {
    bool in_body_run = false;
    for (const auto& r : eom.all.replies()) {
        std::visit(applier{m, in_body_run}, r);
        in_body_run = std::holds_alternative<proto::replace_body>(r);
    }
}

message parse_rfc5322(std::string_view text) {
    message m;
    bool in_headers = true;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl != std::string_view::npos ? text.substr(nl + 1) : std::string_view{};
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (in_headers) {
            if (line.empty()) {
                in_headers = false;
                continue;
            }
            if ((line.front() == ' ' || line.front() == '\t') && !m.headers.empty()) {
                m.headers.back().second.append("\n").append(line);
                continue;
            }
            const auto colon = line.find(':');
            if (colon != std::string_view::npos && colon > 0) {
                auto value = line.substr(colon + 1);
                while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
                m.headers.emplace_back(std::string{line.substr(0, colon)}, std::string{value});
                continue;
            }
            in_headers = false; // not a header: the body starts here
        }
        m.body.append(line).append("\r\n");
    }
    return m;
}

std::string to_rfc5322(const message& m) {
    std::string out;
    for (const auto& [name, value] : m.headers) {
        out.append(name).append(": ");
        for (char ch : value) {
            if (ch == '\n') out.append("\r\n");
            else out.push_back(ch);
        }
        out.append("\r\n");
    }
    out.append("\r\n").append(m.body);
    return out;
}

} // namespace cppmilter::client
