// The server's counters for --metrics-listen: one shard per worker thread, each written only by
// its own thread (a plain increment, no lock, no shared cache line), summed when scraped.
#pragma once

#include <cppmilter/proto/constants.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace cppmilter::asio_server::detail {

/// A counter with one writer (its shard's thread) and any number of readers (the scrape).
class counter {
public:
    void add(std::uint64_t n = 1) noexcept { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

/// The MTA commands that are counted and timed, in the order of their labels.
inline constexpr std::string_view metric_commands = "OCHMRTLNBEUADQK";
/// The answers: verdicts first, then modifications, then the rest.
inline constexpr std::string_view metric_verdicts = "catrdys";
inline constexpr std::string_view metric_modifications = "hime+2-bq";
inline constexpr std::size_t metric_latency_buckets = 11; // plus +Inf
/// Bucket upper bounds, seconds (a hook taking a network round trip lands in the middle).
inline constexpr std::array<double, metric_latency_buckets> metric_latency_bounds{
    0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0};

inline constexpr auto metric_latency_bounds_ns = [] {
    std::array<std::uint64_t, metric_latency_buckets> ns{};
    for (std::size_t i = 0; i < ns.size(); ++i) ns[i] = static_cast<std::uint64_t>(metric_latency_bounds[i] * 1e9 + 0.5);
    return ns;
}();

/// Position of each byte in `codes`, codes.size() for the others: a table, because these run
/// for every command (a search per lookup cost more than the rest of the counting).
constexpr std::array<std::uint8_t, 256> metric_table(std::string_view codes) noexcept {
    std::array<std::uint8_t, 256> table{};
    table.fill(static_cast<std::uint8_t>(codes.size()));
    for (std::size_t i = 0; i < codes.size(); ++i) table[static_cast<unsigned char>(codes[i])] = static_cast<std::uint8_t>(i);
    return table;
}
inline constexpr auto command_slot = metric_table(metric_commands);
inline constexpr auto verdict_slot = metric_table(metric_verdicts);
inline constexpr auto modification_slot = metric_table(metric_modifications);
constexpr std::size_t metric_index(const std::array<std::uint8_t, 256>& table, char code) noexcept {
    return table[static_cast<unsigned char>(code)];
}

struct alignas(64) metrics_shard {
    counter accepted, refused, malformed_input, protocol_errors, negotiation_failures, hook_failures,
        hook_timeouts, read_timeouts, write_timeouts;
    std::array<counter, metric_commands.size() + 1> commands;                      // + other
    std::array<std::array<counter, metric_verdicts.size()>, metric_commands.size() + 1> verdicts; // [stage][verdict]
    std::array<counter, metric_modifications.size()> modifications;
    struct latency {
        std::array<counter, metric_latency_buckets + 1> buckets; // not cumulative here; +Inf last
        counter sum_ns, count;
    };
    std::array<latency, metric_commands.size() + 1> latencies;

    void command(char code) noexcept { commands[metric_index(command_slot, code)].add(); }

    /// Counts the answers the milter wrote for one command (`answers`: whole packets, length
    /// and code first), each verdict under the command's stage.
    void answers(char command_code, std::string_view answers) noexcept {
        const std::size_t stage = metric_index(command_slot, command_code);
        while (answers.size() >= 5) {
            const std::uint32_t length = (std::uint32_t{static_cast<unsigned char>(answers[0])} << 24) |
                                         (std::uint32_t{static_cast<unsigned char>(answers[1])} << 16) |
                                         (std::uint32_t{static_cast<unsigned char>(answers[2])} << 8) |
                                         std::uint32_t{static_cast<unsigned char>(answers[3])};
            const char code = answers[4];
            if (auto v = metric_index(verdict_slot, code); v < metric_verdicts.size()) verdicts[stage][v].add();
            else if (auto m = metric_index(modification_slot, code); m < metric_modifications.size()) modifications[m].add();
            if (length == 0 || answers.size() - 4 < length) break;
            answers.remove_prefix(4 + length);
        }
    }

    void observe(char command_code, std::chrono::nanoseconds took) noexcept {
        auto& l = latencies[metric_index(command_slot, command_code)];
        const auto ns = static_cast<std::uint64_t>(took.count() < 0 ? 0 : took.count());
        std::size_t b = 0;
        while (b < metric_latency_buckets && ns > metric_latency_bounds_ns[b]) ++b;
        l.buckets[b].add();
        l.sum_ns.add(ns);
        l.count.add();
    }
};

} // namespace cppmilter::asio_server::detail
