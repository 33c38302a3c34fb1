#!/usr/bin/env bash
# Throughput of the audit milter against the stamp milter (the benchmark milter: no work per
# message), one after the other in each round, under bench/loadgen (64 connections, 1 KiB
# bodies, TCP). audit writes every line to a file in a temporary directory.
#
#   bench/audit/run.sh                          # 5 rounds of 5 s each
#   ROUNDS=3 DURATION=10s CONNECTIONS=16 bench/audit/run.sh
#
# loadgen counts a message only when end of message adds "X-Bench: 1", which audit (it only
# observes) never does: the binary measured is audit_stamped (bench/audit/audit_stamped.cpp),
# audit with the stamp milter behind it in one pipeline. Needs -DCPPMILTER_BUILD_BENCH=ON.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-$root/build-bench}
connections=${CONNECTIONS:-64}
duration=${DURATION:-5s}
rounds=${ROUNDS:-5}
port=${PORT:-9473}

if [[ ! -x $build/examples/stamp || ! -x $build/examples/audit_stamped || ! -x $build/bench/loadgen ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCPPMILTER_BUILD_BENCH=ON \
        -DCPPMILTER_BUILD_TESTS=OFF -DCPPMILTER_BUILD_EXAMPLES=ON >/dev/null
    cmake --build "$build" -j1 --target loadgen stamp audit_stamped >/dev/null
fi
ulimit -n 8192 2>/dev/null || true
work=$(mktemp -d)
peer=
cleanup() {
    [[ -n $peer ]] && kill "$peer" 2>/dev/null && wait "$peer" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# measure NAME COMMAND...: starts the milter, runs loadgen, prints msgs_per_s.
measure() {
    local name=$1; shift
    "$@" --listen "inet:127.0.0.1:$port" --log-level info 2>"$work/$name.log" &
    peer=$!
    for _ in $(seq 100); do grep -q "listening on" "$work/$name.log" && break; sleep 0.05; done
    local line
    line=$("$build/bench/loadgen" --milter "inet:127.0.0.1:$port" --connections "$connections" \
        --duration "$duration" --body-size 1024)
    kill "$peer"; wait "$peer" || true; peer=
    echo "$line" >>"$work/results"
    sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p' <<<"$line"
}

echo "round stamp audit ratio   ($connections connections, $duration each, lines to $work/audit.json)"
ratios=()
for round in $(seq "$rounds"); do
    s=$(measure stamp "$build/examples/stamp")
    a=$(measure audit "$build/examples/audit_stamped" --output "$work/audit.json")
    r=$(awk -v a="$a" -v s="$s" 'BEGIN { printf "%.3f", a / s }')
    ratios+=("$r")
    echo "$round $s $a $r"
done
echo "lines written: $(wc -l <"$work/audit.json")"
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "ratio audit/stamp: min %s median %s max %s\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
