#include <cppmilter/proto/error.hpp>

#include <ostream>

namespace cppmilter::proto {

std::string_view to_string(errc e) noexcept {
    switch (e) {
    case errc::zero_length: return "length field is 0";
    case errc::packet_too_large: return "packet larger than the maximum payload";
    case errc::unknown_command: return "unknown command letter";
    case errc::unknown_reply: return "unknown reply letter";
    case errc::truncated: return "truncated field";
    case errc::missing_nul: return "string is not NUL-terminated";
    case errc::embedded_nul: return "string holds a NUL byte";
    case errc::unexpected_payload: return "unexpected bytes after the last field";
    case errc::unsupported_version: return "unsupported protocol version (below 2)";
    case errc::unknown_address_family: return "unknown address family";
    case errc::out_of_order: return "command out of order";
    case errc::session_closed: return "command after QUIT";
    case errc::actions_not_offered: return "MTA does not offer required actions";
    case errc::not_negotiated: return "reply needs an action or feature that was not negotiated";
    case errc::reply_not_expected: return "reply where none is expected";
    case errc::invalid_reply_text: return "invalid SMTP reply text";
    case errc::empty_field: return "field must not be empty";
    case errc::version_not_offered: return "version higher than offered";
    }
    return "unknown error";
}

namespace {
class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "cppmilter.proto"; }
    std::string message(int ev) const override { return std::string{to_string(static_cast<errc>(ev))}; }
};
} // namespace

const std::error_category& protocol_category() noexcept {
    static const category instance;
    return instance;
}

std::string error::message() const {
    std::string s;
    if (command != 0) {
        // A letter is both a command and a reply for 'O' only; name it as either.
        auto name = name_of_command(command);
        if (!name) name = name_of_reply(command);
        if (name) {
            s += *name;
        } else if (command >= 0x20 && command < 0x7f) {
            s += '\'';
            s += command;
            s += '\'';
        } else {
            constexpr char hex[] = "0123456789abcdef";
            s += "0x";
            s += hex[(static_cast<unsigned char>(command) >> 4) & 0xf];
            s += hex[static_cast<unsigned char>(command) & 0xf];
        }
        s += ": ";
    }
    s += to_string(code);
    if (!field.empty()) {
        s += code == errc::out_of_order ? " (" : " (field '";
        s += field;
        s += code == errc::out_of_order ? ")" : "')";
    }
    if (!actions.empty()) {
        s += ": ";
        s += to_string(actions);
    }
    return s;
}

std::ostream& operator<<(std::ostream& os, const error& e) { return os << e.message(); }

} // namespace cppmilter::proto
