// A milter's own settings: declared once as a struct, parsed by run() from the command line and
// from --config FILE, re-read on SIGHUP, read by hooks without a lock.
//
//     struct block_list {
//         std::vector<std::string> domains;
//         static void declare(cm::option_list<block_list>& o) {
//             o("block", &block_list::domains, "DOMAIN", "refuse mail from DOMAIN (repeatable)");
//         }
//         void check() { /* optional: validate, derive; throw std::runtime_error("one line") */ }
//     };
//     inline cm::settings<block_list> blocks;                  // what hooks read: blocks.current()
//     int main(int argc, char** argv) { return cm::run(milter, argc, argv, blocks); }
#pragma once

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace cppmilter {

/// A settings value that is not acceptable (thrown by check(), or while reading an option).
struct settings_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// "30" (seconds), "30s", "500ms", "5m", "1h" → milliseconds; nullopt if it is none of these
/// (or not from 1 to 10^9 units).
constexpr std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept {
    std::uint64_t scale = 1000; // plain numbers are seconds
    if (text.ends_with("ms")) scale = 1, text.remove_suffix(2);
    else if (text.ends_with("s")) text.remove_suffix(1);
    else if (text.ends_with("m")) scale = 60'000, text.remove_suffix(1);
    else if (text.ends_with("h")) scale = 3'600'000, text.remove_suffix(1);
    if (text.empty()) return std::nullopt;
    std::uint64_t n = 0;
    for (char c : text) {
        if (c < '0' || c > '9' || n > 1'000'000'000) return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (n < 1 || n > 1'000'000'000) return std::nullopt;
    return std::chrono::milliseconds{n * scale};
}

/// How one option of a milter's settings appears on the command line and in --config files.
struct option_spec {
    enum class kind { flag, value, values } how; ///< `--name`; `--name X`; `--name X` repeatable
    std::string name;                            ///< "block" or "block,b" (long, short)
    std::string value_name;                      ///< what --help shows for X ("DOMAIN")
    std::string help;
};

namespace detail {
template <class M>
struct is_vector : std::false_type {};
template <class V, class A>
struct is_vector<std::vector<V, A>> : std::true_type {};

/// Reads one option value into `field`: strings as they are, numbers whole and in range,
/// durations as parse_duration reads them. `option` names the option in the error.
template <class V>
void read_option_value(V& field, std::string_view text, std::string_view option) {
    if constexpr (std::is_same_v<V, std::string>) {
        field.assign(text);
    } else if constexpr (std::is_same_v<V, std::chrono::milliseconds>) {
        auto parsed = parse_duration(text);
        if (!parsed)
            throw settings_error{"--" + std::string{option} + ": '" + std::string{text} +
                                 "' is not a duration (30, 30s, 500ms, 5m, 1h)"};
        field = *parsed;
    } else {
        static_assert(std::is_integral_v<V> && !std::is_same_v<V, bool>,
                      "cppmilter: a settings option is a bool, a string, an integer, std::chrono::milliseconds "
                      "or a std::vector of these");
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), field);
        if (ec != std::errc{} || end != text.data() + text.size())
            throw settings_error{"--" + std::string{option} + ": '" + std::string{text} + "' is not a number in range"};
    }
}
} // namespace detail

/// The options of a settings struct T, as T::declare(option_list<T>&) lists them. Each binds
/// one member: bool is a switch (`--name`), std::vector<...> is repeatable (the command line's
/// and the file's values are joined), std::chrono::milliseconds takes a duration (30s, 500ms,
/// 5m, 1h), strings and integers one value.
template <class T>
class option_list {
public:
    /// `name` is the long option ("block") or long and short ("block,b"); `value_name` is what
    /// --help shows for the value ("DOMAIN"; ignored for a bool); `help` is one line for --help,
    /// where saying the default is the caller's part.
    template <class M>
    option_list& operator()(std::string_view name, M T::*member, std::string_view value_name, std::string_view help) {
        const std::string option{name.substr(0, name.find(','))};
        if constexpr (std::is_same_v<M, bool>) {
            add(option_spec::kind::flag, name, "", help, [member](T& t, std::string_view) { t.*member = true; });
        } else if constexpr (detail::is_vector<M>::value) {
            add(option_spec::kind::values, name, value_name, help, [member, option](T& t, std::string_view text) {
                detail::read_option_value((t.*member).emplace_back(), text, option);
            });
        } else {
            add(option_spec::kind::value, name, value_name, help, [member, option](T& t, std::string_view text) {
                detail::read_option_value(t.*member, text, option);
            });
        }
        return *this;
    }
    /// An option whose value is one of a fixed set of names, each standing for a value of the
    /// member (an enum, say): `o("mode", &T::mode, {{"relaxed", mode::relaxed}, {"strict",
    /// mode::strict}}, "...")`. Another name is a usage error that lists the choices.
    template <class M>
    option_list& operator()(std::string_view name, M T::*member, std::initializer_list<std::pair<std::string_view, M>> choices,
                            std::string_view help) {
        const std::string option{name.substr(0, name.find(','))};
        std::vector<std::pair<std::string, M>> table;
        std::string listed;
        for (const auto& [word, value] : choices) {
            table.emplace_back(std::string{word}, value);
            listed += (listed.empty() ? "" : "|") + std::string{word};
        }
        add(option_spec::kind::value, name, listed, help, [member, option, table, listed](T& t, std::string_view text) {
            for (const auto& [word, value] : table)
                if (word == text) {
                    t.*member = value;
                    return;
                }
            throw settings_error{"--" + option + ": '" + std::string{text} + "' is not one of " + listed};
        });
        return *this;
    }
    /// The same for a switch (a bool member): `--name`, or `name = true` in the file.
    option_list& operator()(std::string_view name, bool T::*member, std::string_view help) {
        return (*this)(name, member, "", help);
    }

    /// The milter's default for the server's --threads, where the command line and --config
    /// give none: a milter whose hooks are heavy CPU work (signing) says how many cores it
    /// wants, e.g. `o.default_threads(std::thread::hardware_concurrency())`. 0 (unset): the
    /// server's default, half the hardware threads.
    option_list& default_threads(unsigned n) noexcept {
        default_threads_ = n;
        return *this;
    }
    unsigned default_threads() const noexcept { return default_threads_; }

    const std::vector<option_spec>& specs() const noexcept { return specs_; }
    /// Sets option `index` of `target` from one command-line or file value (a flag's text is
    /// ignored). Throws settings_error naming the option when the text does not fit.
    void assign(T& target, std::size_t index, std::string_view text) const { assign_[index](target, text); }

private:
    void add(option_spec::kind how, std::string_view name, std::string_view value_name, std::string_view help,
             std::function<void(T&, std::string_view)> assign) {
        specs_.push_back({how, std::string{name}, std::string{value_name.empty() ? "arg" : value_name}, std::string{help}});
        assign_.push_back(std::move(assign));
    }
    std::vector<option_spec> specs_;
    std::vector<std::function<void(T&, std::string_view)>> assign_;
    unsigned default_threads_ = 0;
};

namespace asio_server {
/// What run() needs of a settings<T> without knowing T: start a fresh value, set its options
/// from the parsed text, then publish it (or drop it when parsing failed).
class settings_binding {
public:
    virtual ~settings_binding() = default;
    /// Starts a new pending value (a default-constructed T); returns its options.
    virtual const std::vector<option_spec>& begin() = 0;
    /// Sets option `index` of the pending value from one value's text.
    virtual void assign(std::size_t index, std::string_view text) = 0;
    /// Runs the pending value's check() and, if it passes, makes it the current value.
    /// Throws (and keeps the current value) if check() throws.
    virtual void publish() = 0;
    /// option_list::default_threads (0: not set).
    virtual unsigned default_threads() const = 0;
};
} // namespace asio_server

/// The current settings of type T, shared by every connection. T must be default-constructible
/// (the value before run() parsed anything); `static void declare(option_list<T>&)` lists its
/// options; an optional `void check()` validates a freshly parsed value and derives what it
/// needs (loads a key file, builds a lookup table), throwing with a one-line reason.
template <class T>
class settings final : public asio_server::settings_binding {
    static_assert(std::is_default_constructible_v<T>, "cppmilter: a settings type must be default-constructible");
    static_assert(requires(option_list<T>& o) { T::declare(o); },
                  "cppmilter: a settings type T needs `static void declare(cm::option_list<T>&)` listing its options");

public:
    settings() : value_{std::make_shared<const T>()} {}
    settings(const settings&) = delete;
    settings& operator=(const settings&) = delete;

    /// The current value. No lock: one atomic load, and a per-thread copy of the pointer that
    /// is refreshed only after a reload. The reference stays valid until this thread calls
    /// current() again after a reload: enough for a synchronous hook. To keep one message on
    /// one value across stages, or across an asynchronous wait, hold pin() instead.
    const T& current() const {
        struct cache {
            const settings* owner = nullptr;
            std::uint64_t generation = 0;
            std::shared_ptr<const T> value;
        };
        thread_local cache mine;
        if (mine.owner != this || mine.generation != generation_.load(std::memory_order_acquire)) {
            std::lock_guard lock{mutex_};
            mine.value = value_;
            mine.generation = generation_.load(std::memory_order_relaxed);
            mine.owner = this;
        }
        return *mine.value;
    }

    /// The current value, kept alive for as long as the caller holds it (e.g. in message state
    /// taken at MAIL FROM, so that a reload does not change a message half way).
    std::shared_ptr<const T> pin() const {
        std::lock_guard lock{mutex_};
        return value_;
    }

    /// Runs check() on `value`, then makes it current (tests, and programs that build their
    /// settings themselves). Throws if check() throws; the current value stays.
    void set(T value) {
        checked(value);
        replace(std::make_shared<const T>(std::move(value)));
    }

    // settings_binding, for run():
    const std::vector<option_spec>& begin() override {
        pending_ = std::make_unique<T>();
        return options().specs();
    }
    void assign(std::size_t index, std::string_view text) override { options().assign(*pending_, index, text); }
    unsigned default_threads() const override { return options().default_threads(); }
    void publish() override {
        auto value = std::move(pending_);
        if (!value) throw std::logic_error{"cppmilter::settings::publish without begin"};
        checked(*value);
        replace(std::shared_ptr<const T>{std::move(value)});
    }

private:
    static const option_list<T>& options() {
        static const option_list<T> declared = [] {
            option_list<T> o;
            T::declare(o);
            return o;
        }();
        return declared;
    }
    static void checked(T& value) {
        if constexpr (requires { value.check(); }) value.check();
    }
    void replace(std::shared_ptr<const T> value) {
        std::shared_ptr<const T> old;
        {
            std::lock_guard lock{mutex_};
            old = std::exchange(value_, std::move(value));
            generation_.fetch_add(1, std::memory_order_release);
        }
        // `old` goes here, outside the lock; threads still holding it keep it alive.
    }

    mutable std::mutex mutex_;                  // guards value_; taken once per thread per reload
    std::shared_ptr<const T> value_;
    std::atomic<std::uint64_t> generation_{1};  // a thread's cache starts at 0: first read fills it
    std::unique_ptr<T> pending_;                // between bind() and publish(), on the parsing thread
};

} // namespace cppmilter
