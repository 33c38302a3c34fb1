// Reading the fields of one payload, remembering the first failure with its field name.
#pragma once

#include <cppmilter/proto/decoder.hpp>
#include <cppmilter/proto/error.hpp>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace cppmilter::proto::detail {

inline std::uint32_t load_u32(const unsigned char* p) noexcept {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

/// Consumes a payload field by field. After the first failure every read returns nullopt and
/// failure() tells which field broke, so parsers check once after a group of reads.
class cursor {
public:
    explicit cursor(packet p) noexcept : rest_{p.payload}, letter_{p.letter} {}

    std::optional<std::uint32_t> u32(std::string_view field) noexcept {
        if (!take(4, field)) return std::nullopt;
        return load_u32(reinterpret_cast<const unsigned char*>(taken_.data()));
    }
    std::optional<std::uint16_t> u16(std::string_view field) noexcept {
        if (!take(2, field)) return std::nullopt;
        const auto* p = reinterpret_cast<const unsigned char*>(taken_.data());
        return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
    }
    std::optional<char> byte(std::string_view field) noexcept {
        if (!take(1, field)) return std::nullopt;
        return taken_[0];
    }
    /// A NUL-terminated string (§1.3), returned without its NUL.
    std::optional<std::string_view> string(std::string_view field) noexcept {
        if (failed_) return std::nullopt;
        if (rest_.empty()) return fail(errc::truncated, field);
        const void* nul = std::memchr(rest_.data(), '\0', rest_.size());
        if (nul == nullptr) return fail(errc::missing_nul, field);
        auto len = static_cast<std::size_t>(static_cast<const char*>(nul) - rest_.data());
        auto s = rest_.substr(0, len);
        rest_.remove_prefix(len + 1);
        return s;
    }
    /// Everything not read yet.
    std::string_view rest() noexcept {
        auto r = rest_;
        rest_ = {};
        return r;
    }
    bool at_end() const noexcept { return rest_.empty(); }
    /// Succeeds only if the payload was read completely.
    result<void> end(std::string_view after_field) const noexcept {
        if (!rest_.empty()) return error{errc::unexpected_payload, letter_, after_field};
        return {};
    }

    explicit operator bool() const noexcept { return !failed_; }
    error failure() const noexcept { return *failed_; }
    char letter() const noexcept { return letter_; }

private:
    bool take(std::size_t n, std::string_view field) noexcept {
        if (failed_) return false;
        if (rest_.size() < n) {
            fail(errc::truncated, field);
            return false;
        }
        taken_ = rest_.substr(0, n);
        rest_.remove_prefix(n);
        return true;
    }
    std::nullopt_t fail(errc code, std::string_view field) noexcept {
        failed_ = error{code, letter_, field};
        return std::nullopt;
    }

    std::string_view rest_;
    std::string_view taken_;
    char letter_;
    std::optional<error> failed_;
};

} // namespace cppmilter::proto::detail
