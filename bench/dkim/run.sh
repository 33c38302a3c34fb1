#!/usr/bin/env bash
# DKIM signing throughput: cppmilter's dkim example against OpenDKIM (Debian opendkim 2.11, a
# libmilter milter), both signing with the same RSA-2048 key (tests/examples/data/dkim, a test
# key), relaxed/relaxed, From over-signed, every message signed. bench/loadgen plays Postfix
# (1 KiB bodies ending with CRLF, 5 header fields, From at sender.bench.test).
#
#   BUILD=/work/build-dkim bench/dkim/run.sh          # 3 rounds, 3 s per run
#   ROUNDS=5 CONNECTIONS="16 64" TRANSPORTS="tcp unix" DURATION=3s bench/dkim/run.sh
#
# Writes $BUILD/bench-dkim/results.tsv (one line per run) and prints, per peer, transport and
# connection count, the median messages/s, p99 latency and milter CPU time per message of the
# rounds with their spread (min-max). Peers run one at a time, each started afresh for every
# run and stopped by PID. CPU time per message (user + system of the milter process, all its
# threads, from /proc) is the figure that other load on the machine disturbs least: a milter
# with a thread per connection gets more of a busy machine than one with a thread per core.
#
# loadgen checks every end of message for the signature: `--expect-header "DKIM-Signature: *"`
# (inserted, any value).
# Needs: the dkim and loadgen targets built in $BUILD (-DCPPMILTER_BUILD_BENCH=ON),
# Debian packages opendkim, g++, libboost-program-options1.81-dev; root (OpenDKIM runs as user
# opendkim). OpenDKIM refuses files under world-writable directories: the work directory is
# under $BUILD.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(realpath -m "${BUILD:-$root/build}") # absolute: the milters are given socket paths under it
rounds=${ROUNDS:-3}
duration=${DURATION:-3s}
connections=${CONNECTIONS:-"16 64"}
transports=${TRANSPORTS:-"tcp unix"}
port=${PORT:-9481}
work=$build/bench-dkim
dkim=$build/examples/dkim

[[ -x $dkim ]] || { echo "bench/dkim/run.sh: build the dkim target in $build first" >&2; exit 1; }
command -v opendkim >/dev/null || { echo "bench/dkim/run.sh: apt-get install opendkim" >&2; exit 1; }
mkdir -p "$work"
chmod 755 "$work"

loadgen="$build/bench/loadgen"
[ -x "$loadgen" ] || { echo "bench/dkim/run.sh: build $loadgen first (-DCPPMILTER_BUILD_BENCH=ON)" >&2; exit 1; }

install -o opendkim -g opendkim -m 600 "$root/tests/examples/data/dkim/rsa2048.pem" "$work/opendkim.pem"
cp "$root/tests/examples/data/dkim/rsa2048.pem" "$work/dkim.pem"
mkdir -p "$work/sock"
chown opendkim:opendkim "$work/sock"
ulimit -n 8192 2>/dev/null || true

# start_peer PEER WHERE: starts it (PID in $peer_pid); WHERE is a port or unix:/path.
start_peer() {
    local spec_od spec_dk
    if [[ $2 == unix:* ]]; then spec_od="local:${2#unix:}"; spec_dk=$2; else spec_od="inet:$2@127.0.0.1"; spec_dk="inet:127.0.0.1:$2"; fi
    rm -f "$work/sock/peer.sock"
    case $1 in
    opendkim)
        cat >"$work/opendkim.conf" <<EOF
Mode s
Domain sender.bench.test
Selector rsa
KeyFile $work/opendkim.pem
Socket $spec_od
Canonicalization relaxed/relaxed
OversignHeaders From
InternalHosts 0.0.0.0/0
Syslog no
UserID opendkim
EOF
        opendkim -f -x "$work/opendkim.conf" >"$work/peer.log" 2>&1 &
        ;;
    cppmilter)
        "$dkim" --listen "$spec_dk" --socket-mode 0666 --mode sign --sign all \
            --domain sender.bench.test --selector rsa --key "$work/dkim.pem" >"$work/peer.log" 2>&1 &
        ;;
    esac
    peer_pid=$!
    for _ in $(seq 100); do
        if [[ $2 == unix:* ]]; then [[ -S ${2#unix:} ]] && return 0
        elif (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "bench/dkim/run.sh: $1 did not start: $(cat "$work/peer.log")" >&2
    exit 1
}

# cpu_seconds PID: user + system time of the process so far (all threads).
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"
}

stop_peer() {
    [[ -n $peer_pid ]] || return 0
    kill "$peer_pid" 2>/dev/null || true
    wait "$peer_pid" 2>/dev/null || true
}
peer_pid=""
trap stop_peer EXIT

results=$work/results.tsv
printf 'round\tpeer\ttransport\tconnections\tmsgs_per_s\tp50_ms\tp99_ms\terrors\tcpu_ms_per_msg\tload\n' >"$results"
for round in $(seq "$rounds"); do
    for transport in $transports; do
        for c in $connections; do
            for peer in cppmilter opendkim; do
                if [[ $transport == unix ]]; then where=unix:$work/sock/peer.sock; else where=$port; fi
                start_peer "$peer" "$where"
                if [[ $transport == unix ]]; then milter=$where; else milter=inet:127.0.0.1:$port; fi
                cpu_before=$(cpu_seconds "$peer_pid")
                line=$("$loadgen" --milter "$milter" --connections "$c" --duration "$duration" \
                    --expect-header "DKIM-Signature: *" || true)
                cpu_after=$(cpu_seconds "$peer_pid")
                load=$(cut -d' ' -f1 /proc/loadavg)
                stop_peer
                field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$line"; }
                messages=$(field messages)
                cpu_ms=$(awk -v a="$cpu_before" -v b="$cpu_after" -v n="${messages:-0}" \
                    'BEGIN { if (n > 0) printf "%.3f", (b - a) * 1000 / n; else print 0 }')
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$peer" "$transport" "$c" \
                    "$(field msgs_per_s)" "$(field p50_ms)" "$(field p99_ms)" "$(field errors)" "$cpu_ms" "$load" >>"$results"
                echo "round $round: $peer $transport c$c: $line cpu_ms_per_msg=$cpu_ms load=$load"
            done
        done
    done
done

# Median and spread of the rounds.
python3 - "$results" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
keys = sorted({(r["transport"], int(r["connections"]), r["peer"]) for r in rows})
print("\n| transport | connections | peer | msgs/s median (min-max) | p99 ms median (min-max) "
      "| CPU ms/msg median (min-max) | errors | load average |")
print("|---|---:|---|---:|---:|---:|---:|---|")
for t, c, p in keys:
    sel = [r for r in rows if (r["transport"], int(r["connections"]), r["peer"]) == (t, c, p)]
    rate = [float(r["msgs_per_s"] or 0) for r in sel]
    p99 = [float(r["p99_ms"] or 0) for r in sel]
    cpu = [float(r["cpu_ms_per_msg"] or 0) for r in sel]
    load = [float(r["load"] or 0) for r in sel]
    errors = sum(int(r["errors"] or 0) for r in sel)
    print(f"| {t} | {c} | {p} | {statistics.median(rate):.0f} ({min(rate):.0f}-{max(rate):.0f}) "
          f"| {statistics.median(p99):.1f} ({min(p99):.1f}-{max(p99):.1f}) "
          f"| {statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f}) | {errors} | {min(load):.1f}-{max(load):.1f} |")
EOF
