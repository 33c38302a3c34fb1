// What the micro-benchmarks that play a transcript through a milter share: failing loudly,
// building MACRO packets, one connection over the transcript, the Google Benchmark loop, the
// `--run NAME N` mode for callgrind and the check that two filters answer the same bytes.
#pragma once

#include <cppmilter/cppmilter.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace bench {

namespace cm = cppmilter;
namespace proto = cppmilter::proto;

/// Prints "program: what: detail" and exits with 1: a benchmark that measures something wrong
/// must not print figures.
[[noreturn]] inline void fail(std::string_view what, std::string_view detail = {}) {
    std::fprintf(stderr, "%s: %.*s%s%.*s\n", program_invocation_short_name, static_cast<int>(what.size()),
                 what.data(), detail.empty() ? "" : ": ", static_cast<int>(detail.size()), detail.data());
    std::exit(EXIT_FAILURE);
}

inline void checked(const proto::result<void>& r, std::string_view what) {
    if (!r) fail(what, r.error().message());
}

using pairs = std::initializer_list<std::pair<std::string_view, std::string_view>>;

inline void add_macro(std::string& out, char stage, pairs p) {
    checked(proto::encode_macro(out, stage, std::span{p.begin(), p.size()}), "encode MACRO");
}

/// Plays a whole transcript (one MTA connection) through a filter, appends its answers to
/// `out`, returns the number of commands.
using session_runner = std::size_t (*)(proto::command_decoder&, std::string_view, std::string&);

/// One cm::connection of `Milter` over the whole transcript.
template <const auto& Milter>
std::size_t run_connection(proto::command_decoder& decoder, std::string_view bytes, std::string& out) {
    cm::connection<std::remove_cvref_t<decltype(Milter)>> conn{Milter};
    decoder.feed(bytes);
    std::size_t commands = 0;
    while (auto cmd = decoder.next()) {
        if (!*cmd) fail("decode", cmd->error().message());
        if (auto step = conn.handle(**cmd, out); !step) fail("connection", step.error().message());
        ++commands;
    }
    return commands;
}

/// The benchmark loop over `bytes` (`messages` messages): bytes, items and messages per second.
template <session_runner Run>
void run_benchmark(benchmark::State& state, const std::string& bytes, int messages) {
    proto::command_decoder decoder;
    std::string out;
    for (auto _ : state) {
        out.clear();
        benchmark::DoNotOptimize(Run(decoder, bytes, out));
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes.size()));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * messages);
    state.counters["messages"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * messages, benchmark::Counter::kIsRate);
}

/// `--run NAME N`: `run` N times over `bytes`, without the benchmark library (under callgrind
/// the instruction count per run is deterministic).
inline int run_repeatedly(std::string_view name, session_runner run, int n, const std::string& bytes, int messages) {
    proto::command_decoder decoder;
    std::string out;
    std::size_t commands = 0;
    for (int i = 0; i < n; ++i) {
        out.clear();
        commands += run(decoder, bytes, out);
    }
    std::printf("%.*s: %d runs of %d messages, %zu commands, %zu bytes of transcript, %zu bytes of answers\n",
                static_cast<int>(name.size()), name.data(), n, messages, commands, bytes.size(), out.size());
    return 0;
}

/// Two filters compared must answer with the same bytes: fails with where they first differ.
inline void expect_same_answers(std::string_view what, std::string_view a, std::string_view b) {
    if (a == b) return;
    const auto at = std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin();
    fail(what, std::to_string(a.size()) + " and " + std::to_string(b.size()) + " bytes, first difference at byte " +
                   std::to_string(at));
}

} // namespace bench
