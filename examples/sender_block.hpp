// The sender_block milter, shared by its program and its tests: refuses mail whose envelope
// sender's domain is on a list given with --block DOMAIN (or `block = DOMAIN` lines in the
// --config file, re-read on SIGHUP). A listed domain also blocks its subdomains.
#pragma once

#include <cppmilter/cppmilter.hpp>
#include <cppmilter/mail/message.hpp>
#include <cppmilter/settings.hpp>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace examples {
namespace cm = cppmilter;

struct block_list {
    std::vector<std::string> domains; ///< --block, as given

    static void declare(cm::option_list<block_list>& o) {
        o("block", &block_list::domains, "DOMAIN", "refuse mail from senders at DOMAIN or under it (repeatable)");
    }

    /// Lower-cases the domains once, here, so that the hook compares without allocating.
    void check() {
        for (auto& d : domains) {
            if (d.starts_with('@')) d.erase(0, 1);
            if (d.empty() || d.find_first_of(" \t@<>") != std::string::npos)
                throw cm::settings_error{"--block: '" + d + "' is not a domain"};
            std::ranges::transform(d, d.begin(), [](unsigned char c) { return std::tolower(c); });
        }
    }

    /// "<Alice@Sub.Blocked.Example>" is blocked by "blocked.example"; "<>" never is.
    bool blocks(std::string_view address) const {
        address = cm::mail::unbracketed(address);
        const auto at = address.rfind('@');
        if (at == std::string_view::npos) return false;
        const std::string_view domain = address.substr(at + 1);
        auto equal = [](char a, char listed) { return std::tolower(static_cast<unsigned char>(a)) == listed; };
        return std::ranges::any_of(domains, [&](const std::string& listed) {
            if (domain.size() < listed.size()) return false;
            const auto tail = domain.substr(domain.size() - listed.size());
            const bool at_label = domain.size() == listed.size() || domain[domain.size() - listed.size() - 1] == '.';
            return at_label && std::ranges::equal(tail, listed, equal);
        });
    }
};

/// The list the running server uses: set from the command line, replaced on SIGHUP.
inline cm::settings<block_list> blocked_senders;

inline constexpr auto sender_block = cm::milter(
    cm::on_mail_from([](const cm::mail_from& m) -> cm::verdict {
        if (blocked_senders.current().blocks(m.address)) return cm::reply(550, "5.7.1", "sender blocked");
        return cm::next;
    }));

} // namespace examples
