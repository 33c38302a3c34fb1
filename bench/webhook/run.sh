#!/usr/bin/env bash
# Throughput of the webhook milter when the policy endpoint takes DELAY_MS to answer: the
# milter waits without holding a thread, so N MTA connections should get about
# N / delay messages per second (64 connections, 200 ms: ~320/s).
#
#   bench/webhook/run.sh                       # 64 connections, 200 ms, 10 s, 3 rounds
#   CONNECTIONS=128 DELAY_MS=100 bench/webhook/run.sh
#
# The endpoint is tests/examples/webhook_server.py (one thread per connection, HTTP/1.1
# keep-alive; /stamp answers after --delay-ms with add_headers X-Bench: 1, which loadgen
# checks on every message). Needs a build with -DCPPMILTER_BUILD_BENCH=ON (loadgen).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-$root/build-bench}
connections=${CONNECTIONS:-64}
delay_ms=${DELAY_MS:-200}
duration=${DURATION:-10s}
rounds=${ROUNDS:-3}
port=${PORT:-9472}
python=${PYTHON:-/usr/bin/python3}

if [[ ! -x $build/examples/webhook || ! -x $build/bench/loadgen ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCPPMILTER_BUILD_BENCH=ON \
        -DCPPMILTER_BUILD_TESTS=OFF -DCPPMILTER_BUILD_EXAMPLES=ON >/dev/null
    cmake --build "$build" -j1 --target loadgen webhook >/dev/null
fi
ulimit -n 8192 2>/dev/null || true

work=$(mktemp -d)
server_pid= milter_pid=
cleanup() {
    [[ -n $milter_pid ]] && kill "$milter_pid" 2>/dev/null && wait "$milter_pid" 2>/dev/null
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/server.in"
"$python" "$root/tests/examples/webhook_server.py" --delay-ms "$delay_ms" --timeout 3600 \
    <"$work/server.in" >"$work/server.out" &
server_pid=$!
exec 3>"$work/server.in" # held open: the endpoint runs until this script ends
for _ in $(seq 100); do [[ -s $work/server.out ]] && break; sleep 0.1; done
http_port=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$work/server.out")

"$build/examples/webhook" --listen "inet:127.0.0.1:$port" --url "http://127.0.0.1:$http_port/stamp" \
    --stage eom --request-timeout 5s --log-level info 2>"$work/milter.log" &
milter_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/milter.log" && break; sleep 0.1; done

echo "webhook: $connections connections, endpoint delay ${delay_ms} ms, $duration per round," \
     "expected ~$((connections * 1000 / delay_ms)) messages/s"
for round in $(seq "$rounds"); do
    echo "round $round:"
    "$build/bench/loadgen" --milter "inet:127.0.0.1:$port" --connections "$connections" --duration "$duration" \
        --body-size 1024
done
if grep -qv ": info: " "$work/milter.log"; then echo "milter log:"; grep -v ": info: " "$work/milter.log"; fi
