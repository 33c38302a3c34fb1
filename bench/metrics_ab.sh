#!/usr/bin/env bash
# What --metrics-listen costs: bench/stamp_answering without and with metrics, interleaved
# rounds, bench/loadgen over a UNIX socket. Prints msgs/s per run; compare the medians.
#     BUILD=build ROUNDS=4 CONNECTIONS=16 DURATION=3s bench/metrics_ab.sh
set -euo pipefail
build=${BUILD:-build}
rounds=${ROUNDS:-4}
connections=${CONNECTIONS:-16}
duration=${DURATION:-3s}
sock=$(mktemp -u /tmp/cppmilter-metrics-ab.XXXXXX.sock)
for round in $(seq "$rounds"); do
    for metrics in off on; do
        args=()
        [ "$metrics" = on ] && args=(--metrics-listen inet:0@127.0.0.1)
        "$build/bench/stamp_answering" --listen "unix:$sock" "${args[@]}" 2>/dev/null &
        pid=$!
        for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
        result=$(timeout 60 "$build/bench/loadgen" --milter "unix:$sock" -c "$connections" -d "$duration" 2>&1 |
                 grep -o 'msgs_per_s=[0-9.]*' || echo "msgs_per_s=failed")
        echo "round $round metrics=$metrics $result"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    done
done
