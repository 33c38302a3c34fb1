#!/usr/bin/env bash
# Throughput of the ratelimit milter (one EVALSHA per message against a Redis on loopback)
# beside the stamp milter, in the same run, with bench/loadgen at 16 and 64 connections.
#
#   BUILD=/work/build-ratelimit bench/ratelimit/run.sh      # ROUNDS=5 DURATION=3s by default
#
# The build must have -DCPPMILTER_BUILD_BENCH=ON and the targets stamp, stamp_answering,
# ratelimit_stamp and loadgen built (cmake --build $BUILD --target stamp stamp_answering
# ratelimit_stamp loadgen). stamp_answering is stamp with every command answered: ratelimit
# answers MAIL and RCPT, so it pays those round trips to the MTA besides Redis's. ratelimit_stamp
# is ratelimit in front of stamp (loadgen wants stamp's X-Bench header at end of message), with
# a limit no run reaches; every message counts against one key (loadgen's one sender): the
# hottest case for Redis. Each round runs every scenario for both milters in turn; the table
# shows every round's messages/s, the median and the spread (min..max).
# Debian packages: redis-server (and what the build needs).
set -euo pipefail
build=${BUILD:-/work/build-ratelimit}
rounds=${ROUNDS:-5}
duration=${DURATION:-3s}
threads=${THREADS:-2}
redis_server=${REDIS_SERVER:-redis-server}
peers=${PEERS:-"stamp stamp_answering ratelimit"}
out=${OUT:-$build/ratelimit-bench}
mkdir -p "$out"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

redis_port=$(free_port)
"$redis_server" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$out" \
    --logfile "$out/redis.log" &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null; wait $redis_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$redis_port) 2>/dev/null && break
    sleep 0.05
done

peer_command() { # peer port
    case $1 in
    stamp) echo "$build/examples/stamp --listen inet:127.0.0.1:$2 --threads $threads" ;;
    stamp_answering) echo "$build/bench/stamp_answering --listen inet:127.0.0.1:$2 --threads $threads" ;;
    ratelimit) echo "$build/examples/ratelimit_stamp --listen inet:127.0.0.1:$2 --threads $threads \
        --limit 1000000000/1d --redis 127.0.0.1:$redis_port --log-level warning" ;;
    esac
}

results=$out/results.tsv
: > "$results"
for round in $(seq "$rounds"); do
    for connections in 16 64; do
        for peer in $peers; do
            port=$(free_port)
            $(peer_command $peer $port) 2> "$out/$peer.log" &
            pid=$!
            for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
            line=$("$build/bench/loadgen" --milter "inet:127.0.0.1:$port" --connections "$connections" \
                --duration "$duration" --body-size 1024)
            kill $pid; wait $pid || true
            rate=$(sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p' <<<"$line")
            p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$line")
            printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$connections" "$peer" "$rate" "$p99" >> "$results"
            echo "round $round c$connections $peer: $line"
        done
    done
done

echo
python3 - "$results" "$peers" <<'PY'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()]
print("| connections | milter | msgs/s of each round (sorted) | median | min..max | p99 ms (median) |")
print("|---|---|---|---|---|---|")
for c in ("16", "64"):
    for peer in sys.argv[2].split():
        rates = sorted(float(r[3]) for r in rows if r[1] == c and r[2] == peer)
        p99 = statistics.median(float(r[4]) for r in rows if r[1] == c and r[2] == peer)
        print(f"| {c} | {peer} | {', '.join(f'{x:.0f}' for x in rates)} | {statistics.median(rates):.0f} "
              f"| {rates[0]:.0f}..{rates[-1]:.0f} | {p99:.2f} |")
PY
echo "Redis: $("$redis_server" --version | cut -d' ' -f3); results in $results"
