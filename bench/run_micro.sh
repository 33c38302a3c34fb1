#!/usr/bin/env bash
# Builds the micro-benchmark (Release, in build-bench/) and runs it: 10 repetitions, aggregates
# only, repetitions of the two benchmarks interleaved in random order (so that a change of the
# machine's load during the run does not fall on one of them only), then prints the medians and
# the DSL/switch ratio of the median times. Extra arguments go to the
# benchmark (e.g. --benchmark_filter=BM_dsl). Needs cmake, a C++20 compiler, libbenchmark-dev,
# python3. BUILD_DIR overrides the build directory, JOBS the build parallelism (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-bench}
jobs=${JOBS:-1}

cmake -B "$build" -DCMAKE_BUILD_TYPE=Release -DCPPMILTER_BUILD_BENCH=ON \
    -DCPPMILTER_BUILD_TESTS=OFF -DCPPMILTER_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target micro_dispatch

json="$build/bench/micro_dispatch.json"
cmd=("$build/bench/micro_dispatch" --benchmark_repetitions=10 --benchmark_report_aggregates_only=true
     --benchmark_enable_random_interleaving=true --benchmark_out="$json" --benchmark_out_format=json "$@")
echo "+ ${cmd[*]}"
"${cmd[@]}"

python3 - "$json" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
median = {r["run_name"]: r for r in runs if r.get("aggregate_name") == "median"}
if "BM_dsl" not in median or "BM_switch" not in median:
    sys.exit("ratio: need both BM_dsl and BM_switch in the results")
for name in ("BM_dsl", "BM_switch"):
    r = median[name]
    print(f"{name:10} median: real {r['real_time']:9.1f} {r['time_unit']}/iter, cpu {r['cpu_time']:9.1f} "
          f"{r['time_unit']}/iter, {r['bytes_per_second'] / 2**20:7.1f} MiB/s, {r['messages']:8.0f} messages/s")
d, s = median["BM_dsl"], median["BM_switch"]
assert d["time_unit"] == s["time_unit"]
print(f"ratio DSL/switch of the medians: real time {d['real_time'] / s['real_time']:.3f}, "
      f"cpu time {d['cpu_time'] / s['cpu_time']:.3f}")
PY
