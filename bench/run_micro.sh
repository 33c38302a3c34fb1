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
    -DCPPMILTER_BUILD_TESTS=OFF -DCPPMILTER_BUILD_EXAMPLES=ON >/dev/null  # as bench/run.sh: one build dir
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

# ---------------------------------------------------------------- micro_proto (protocol core)
# Then the protocol core's micro-benchmarks: 5 repetitions, aggregates only, interleaved; prints
# the median MB/s (10^6 bytes/s) and items/s (commands, replies or messages) of each benchmark,
# from CPU time. The script's arguments go to micro_dispatch only; PROTO_ARGS holds extra
# arguments for micro_proto (e.g. PROTO_ARGS=--benchmark_filter=decode).
cmake --build "$build" -j"$jobs" --target micro_proto

proto_json="$build/bench/micro_proto.json"
read -r -a proto_extra <<< "${PROTO_ARGS:-}"
proto_cmd=("$build/bench/micro_proto" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
           --benchmark_enable_random_interleaving=true --benchmark_out="$proto_json" --benchmark_out_format=json
           ${proto_extra[@]+"${proto_extra[@]}"})
echo "+ ${proto_cmd[*]}"
"${proto_cmd[@]}"

python3 - "$proto_json" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
# Random interleaving reports the benchmarks in completion order: sort back to the program's.
runs.sort(key=lambda r: (r.get("family_index", 0), r.get("per_family_instance_index", 0)))
median = {r["run_name"]: r for r in runs if r.get("aggregate_name") == "median"}
cv = {r["run_name"]: r for r in runs if r.get("aggregate_name") == "cv"}
failed = sorted({r["run_name"] for r in runs if r.get("error_occurred")})
if not median:
    sys.exit("micro_proto: no medians in " + sys.argv[1])
def rate(x):
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:7.2f} {suffix}"
    return f"{x:7.2f}  "
width = max(len(n) for n in median)
print(f"\nmicro_proto medians (CPU time), {len(median)} benchmarks:")
print(f"{'benchmark':{width}}  {'MB/s':>9}  {'items/s':>11}  {'ns/item':>9}  {'cv':>6}")
for name, r in median.items():
    mbs = r.get("bytes_per_second", 0) / 1e6
    ips = r.get("items_per_second", 0)
    per_item = 1e9 / ips if ips else float("nan")
    spread = cv[name]["cpu_time"] * 100 if name in cv else float("nan")  # stddev/mean of CPU time
    print(f"{name:{width}}  {mbs:9.1f}  {rate(ips)}/s  {per_item:9.1f}  {spread:5.1f}%")
if failed:
    sys.exit("micro_proto: errors in " + ", ".join(failed))
PY
