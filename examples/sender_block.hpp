// The sender_block milter, shared by its program and its tests.
#pragma once

#include <cppmilter/cppmilter.hpp>

#include <algorithm>
#include <cctype>
#include <string_view>

namespace examples {
namespace cm = cppmilter;

/// "<Alice@Blocked.Example>" → true.
inline bool is_blocked(std::string_view address) {
    if (address.size() >= 2 && address.front() == '<' && address.back() == '>')
        address = address.substr(1, address.size() - 2);
    constexpr std::string_view domain = "@blocked.example";
    return address.size() >= domain.size() &&
           std::equal(domain.rbegin(), domain.rend(), address.rbegin(),
                      [](char d, char a) { return d == std::tolower(static_cast<unsigned char>(a)); });
}

inline constexpr auto sender_block = cm::milter(
    cm::on_mail_from([](const cm::mail_from& m) -> cm::verdict {
        if (is_blocked(m.address)) return cm::reply(550, "5.7.1", "sender blocked");
        return cm::next;
    }));

} // namespace examples
