#!/usr/bin/env bash
# Builds cppmilter's benchmark milters, the peers (bench/peers) and the load generator, then
# runs every peer through the same scenarios, side by side in one run, and writes
#   $OUT/results.tsv     one line per peer and scenario
#   $OUT/table.md        the Markdown table (also printed), ratios to libmilter and the limit
#   $OUT/throughput.png  messages/s against connections, one line per peer
#
#   bench/run.sh                 # everything: 3 rounds, 2 s per scenario (about 6 minutes)
#   ROUNDS=1 DURATION=2s bench/run.sh     # shorter
#   PEERS="cppmilter libmilter limit" SCENARIOS="c64" bench/run.sh
#
# The machine is noisy: ROUNDS rounds each run every scenario for every peer in turn, and the
# tables show the median of the rounds with the smallest and largest in brackets; ratios are
# taken within each round (peers side by side) and summarised the same way.
# Scenarios: c1, c16, c64, c256 (that many connections, 1 KiB bodies, TCP), u64 (64
# connections over a UNIX socket), big (16 connections, 256 KiB bodies), idle
# (IDLE_CONNECTIONS, default 10,000, held open after HELO over TCP: memory only, first round;
# the file-descriptor limit must allow that many, `ulimit -Hn`). Each scenario starts the
# peer afresh, so its VmHWM (peak resident memory) belongs to that scenario alone.
# Debian packages needed: g++ cmake libboost1.81-dev libboost-program-options1.81-dev
# libbenchmark-dev libmilter-dev python3-milter golang-go golang-github-emersion-go-milter-dev
# gnuplot-nox (the plot is skipped without gnuplot).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-$root/build-bench}
out=${OUT:-$build/results}
duration=${DURATION:-2s}
rounds=${ROUNDS:-3}
jobs=${JOBS:-2}
port=${PORT:-9471}
peers=${PEERS:-"cppmilter cppmilter_answering libmilter gomilter pymilter limit_nr limit"}
scenarios=${SCENARIOS:-"c1 c16 c64 c256 u64 big idle"}
idle_connections=${IDLE_CONNECTIONS:-10000}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCPPMILTER_BUILD_BENCH=ON \
    -DCPPMILTER_BUILD_TESTS=OFF -DCPPMILTER_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j"$jobs" --target loadgen stamp stamp_answering >/dev/null
"$root/bench/peers/build.sh" "$build/peers"
mkdir -p "$out"
loadgen=$build/bench/loadgen
# The idle scenario holds $idle_connections sockets in the generator and in the peer.
ulimit -n $((idle_connections + 1000)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# NR bits cppmilter's stamp negotiates (derived from its hook types): the limit plays the same
# round trips with them (limit_nr), and every command answered without (limit).
stamp_nr=0xFF080

# The command that starts peer $1 listening on $2: a port on 127.0.0.1, or unix:/path.
peer_command() {
    local where=$2 spec
    if [[ $where == unix:* ]]; then spec=$where; else spec=inet:127.0.0.1:$where; fi
    case $1 in
    cppmilter) echo "$build/examples/stamp --listen $spec --max-connections 100000" ;;
    cppmilter_answering) echo "$build/bench/stamp_answering --listen $spec --max-connections 100000" ;;
    libmilter) echo "$build/peers/libmilter_stamp $where" ;;
    gomilter) echo "$build/peers/gomilter_stamp $where" ;;
    pymilter) echo "$build/peers/pymilter_stamp.py $where" ;;
    limit) echo "$build/peers/limit $where" ;;
    limit_nr) echo "$build/peers/limit $where $stamp_nr" ;;
    *) echo "bench/run.sh: unknown peer $1" >&2; exit 64 ;;
    esac
}

# loadgen's arguments per scenario.
scenario_args() {
    case $1 in
    c1) echo "--connections 1 --body-size 1024 --duration $duration" ;;
    c16) echo "--connections 16 --body-size 1024 --duration $duration" ;;
    c64) echo "--connections 64 --body-size 1024 --duration $duration" ;;
    c256) echo "--connections 256 --body-size 1024 --duration $duration" ;;
    u64) echo "--connections 64 --body-size 1024 --duration $duration" ;;
    big) echo "--connections 16 --body-size 262144 --duration $duration" ;;
    idle) echo "--connections $idle_connections --idle 5s" ;;
    *) echo "bench/run.sh: unknown scenario $1" >&2; exit 64 ;;
    esac
}

# Where peers listen in scenario $1: u* scenarios on a UNIX socket, the others on TCP.
listen_at() {
    if [[ $1 == u* ]]; then echo "unix:$out/peer.sock"; else echo "$port"; fi
}

wait_listening() { # wait_listening WHERE
    for _ in $(seq 1 100); do
        if [[ $1 == unix:* ]]; then
            [ -S "${1#unix:}" ] && return 0
        elif (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

exited() { # exited PID: gone, or a zombie waiting to be reaped
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo Z)" = Z ]
}

stop_peer() {
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 1 60); do
        exited "$1" && { wait "$1" 2>/dev/null || true; return 0; }
        sleep 0.05
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

field() { # field NAME LINE: the value of NAME=... in a loadgen line
    sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"
}

results=$out/results.tsv
printf 'round\tpeer\tscenario\tconnections\tbody\tmsgs_per_s\tp50_ms\tp99_ms\tmax_ms\terrors\thwm_kb\tloadgen_cpu_s\tseconds\tbase_kb\n' >"$results"
for round in $(seq 1 "$rounds"); do
    for scenario in $scenarios; do
        # Memory is not noisy: idle runs in the first round only.
        [ "$scenario" != idle ] || [ "$round" = 1 ] || continue
        for peer in $peers; do
            where=$(listen_at "$scenario")
            milter=$where
            [[ $where == unix:* ]] || milter=inet:127.0.0.1:$where
            rm -f "$out/peer.sock"
            # shellcheck disable=SC2046
            $(peer_command "$peer" "$where") 2>"$out/$peer.$scenario.log" &
            pid=$!
            if ! wait_listening "$where"; then
                echo "bench/run.sh: $peer did not listen on $milter" >&2
                stop_peer "$pid"
                continue
            fi
            # Resident before any connection: the idle scenario's memory per connection is
            # (VmHWM - this) / connections.
            sleep 0.2
            base=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            # shellcheck disable=SC2046
            line=$("$loadgen" --milter "$milter" $(scenario_args "$scenario") 2>>"$out/$peer.$scenario.log") || true
            hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            stop_peer "$pid"
            [ -n "$line" ] || line="connections=0 body=0 msgs_per_s=0 p50_ms=0 p99_ms=0 max_ms=0 errors=1 loadgen_cpu_s=0 seconds=0"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$peer" "$scenario" \
                "$(field connections "$line")" "$(field body "$line")" "$(field msgs_per_s "$line")" \
                "$(field p50_ms "$line")" "$(field p99_ms "$line")" "$(field max_ms "$line")" \
                "$(field errors "$line")" "${hwm:-0}" "$(field loadgen_cpu_s "$line")" "$(field seconds "$line")" \
                "${base:-0}" >>"$results"
            printf '%s %-20s %-5s %s VmHWM=%s kB\n' "$round" "$peer" "$scenario" "$line" "${hwm:-0}" >&2
        done
    done
done

python3 "$root/bench/report.py" "$results" "$out"
cat "$out/table.md"
