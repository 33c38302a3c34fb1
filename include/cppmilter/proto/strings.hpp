// Views over the NUL-separated string runs of the wire format (§1.3).
#pragma once

#include <cstddef>
#include <cstring>
#include <iterator>
#include <string_view>
#include <utility>

namespace cppmilter::proto {

/// A run of NUL-terminated strings ("argv", §1.3) seen in place: `a\0b\0c\0`.
/// Iterating yields each string without its NUL. The run is validated when decoded, so
/// an empty view means "no strings" and any other view ends in NUL.
class string_list {
public:
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::string_view;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = std::string_view;

        iterator() = default;
        std::string_view operator*() const noexcept { return {pos_, len_}; }
        iterator& operator++() noexcept {
            pos_ = len_ < static_cast<std::size_t>(end_ - pos_) ? pos_ + len_ + 1 : end_;
            len_ = length(pos_, end_);
            return *this;
        }
        iterator operator++(int) noexcept { auto old = *this; ++*this; return old; }
        friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.pos_ == b.pos_; }

    private:
        friend class string_list;
        iterator(const char* pos, const char* end) noexcept : pos_{pos}, end_{end}, len_{length(pos, end)} {}
        // Bounded by the view, so that even a run without its final NUL cannot be overread.
        static std::size_t length(const char* pos, const char* end) noexcept {
            if (pos == end) return 0;
            const void* nul = std::memchr(pos, '\0', static_cast<std::size_t>(end - pos));
            return static_cast<std::size_t>((nul ? static_cast<const char*>(nul) : end) - pos);
        }
        const char* pos_ = nullptr;
        const char* end_ = nullptr;
        std::size_t len_ = 0;
    };

    constexpr string_list() noexcept = default;
    /// `raw` should be empty or end in NUL (the decoder guarantees it); a last string without
    /// its NUL is still iterated safely, and the encoder refuses it.
    constexpr explicit string_list(std::string_view raw) noexcept : raw_{raw} {}

    iterator begin() const noexcept { return {raw_.data(), raw_.data() + raw_.size()}; }
    iterator end() const noexcept { return {raw_.data() + raw_.size(), raw_.data() + raw_.size()}; }
    bool empty() const noexcept { return raw_.empty(); }
    std::size_t size() const noexcept {
        std::size_t n = 0;
        for (char c : raw_) n += c == '\0';
        return n;
    }
    /// The wire bytes, NULs included.
    constexpr std::string_view raw() const noexcept { return raw_; }

    friend bool operator==(const string_list& a, const string_list& b) noexcept { return a.raw_ == b.raw_; }

private:
    std::string_view raw_;
};

/// The `name\0value\0` pairs of a MACRO packet (§3.2), seen in place.
class macro_pairs {
public:
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::pair<std::string_view, std::string_view>;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = value_type;

        iterator() = default;
        value_type operator*() const noexcept {
            auto value = name_;
            ++value;
            return {*name_, *value};
        }
        iterator& operator++() noexcept { ++name_; ++name_; return *this; }
        iterator operator++(int) noexcept { auto old = *this; ++*this; return old; }
        friend bool operator==(const iterator&, const iterator&) noexcept = default;

    private:
        friend class macro_pairs;
        explicit iterator(string_list::iterator name) noexcept : name_{name} {}
        string_list::iterator name_;
    };

    constexpr macro_pairs() noexcept = default;
    /// `raw` must hold an even number of NUL-terminated strings (the decoder guarantees it).
    constexpr explicit macro_pairs(std::string_view raw) noexcept : strings_{raw} {}

    iterator begin() const noexcept { return iterator{strings_.begin()}; }
    iterator end() const noexcept { return iterator{strings_.end()}; }
    bool empty() const noexcept { return strings_.empty(); }
    std::size_t size() const noexcept { return strings_.size() / 2; }
    constexpr std::string_view raw() const noexcept { return strings_.raw(); }

    friend bool operator==(const macro_pairs&, const macro_pairs&) noexcept = default;

private:
    string_list strings_;
};

} // namespace cppmilter::proto
