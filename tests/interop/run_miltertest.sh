#!/usr/bin/env bash
# Runs one miltertest script (tests/interop/miltertest/*.lua) against the showcase milter.
#
#     run_miltertest.sh PATH/TO/showcase PATH/TO/SCRIPT.lua
#
# Starts showcase on a UNIX socket in a fresh temporary directory, waits for the socket, runs
# `miltertest -vv -s SCRIPT -D socket=unix:DIR/s.sock` (bounded by `timeout 60`), then checks
#   * miltertest's exit status (the script calls error() on any mismatch),
#   * the "mt-expect: ..." lines the script printed against the packets miltertest read (its
#     -vv output), for what miltertest cannot compare itself (see miltertest/common.lua),
#   * that showcase logged no warning or error and exits 0 on SIGTERM.
# showcase is always stopped (trap). Exit status 0 when all pass, 1 otherwise, 77 (CTest's
# SKIP_RETURN_CODE) when miltertest is not installed (Debian: apt-get install miltertest).
# CPPMILTER_MILTERTEST_KEEP=1 keeps the temporary directory (logs, miltertest output).

set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 PATH/TO/showcase PATH/TO/SCRIPT.lua" >&2
    exit 2
fi
showcase=$1
script=$2
name=${script##*/}; name=${name%.lua}

if ! command -v miltertest >/dev/null 2>&1; then
    echo "SKIP: miltertest is not installed (apt-get install miltertest)"
    exit 77
fi
if [ ! -x "$showcase" ]; then
    echo "FAIL: $showcase is not an executable" >&2
    exit 1
fi
if [ ! -r "$script" ]; then
    echo "FAIL: cannot read $script" >&2
    exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/cppmilter-miltertest.XXXXXX") || exit 1
sock=$dir/s.sock
pid=
mt_pid=

stop_showcase() {
    # SIGTERM, then up to 15 s for a clean exit, then SIGKILL. Sets showcase_status.
    showcase_status=
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "showcase (pid $pid) still running 15 s after SIGTERM: killing it" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    showcase_status=$?
    pid=
}

cleanup() {
    # timeout passes SIGTERM on to miltertest.
    [ -n "$mt_pid" ] && kill -TERM "$mt_pid" 2>/dev/null
    stop_showcase
    if [ "${CPPMILTER_MILTERTEST_KEEP:-0}" = 1 ]; then
        echo "kept $dir"
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

show_logs() {
    echo "---- miltertest -vv output (last 80 lines)"
    tail -n 80 "$dir/miltertest.out" 2>/dev/null
    echo "---- showcase log"
    cat "$dir/showcase.log" 2>/dev/null
    echo "----"
}

"$showcase" --listen "unix:$sock" --log-level info </dev/null >"$dir/showcase.log" 2>&1 &
pid=$!

# The socket appears once showcase listens (up to 10 s).
for _ in $(seq 100); do
    [ -S "$sock" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        echo "FAIL: showcase exited with status $? before listening" >&2
        pid=
        show_logs >&2
        exit 1
    fi
    sleep 0.1
done
if [ ! -S "$sock" ]; then
    echo "FAIL: no socket $sock after 10 s" >&2
    show_logs >&2
    exit 1
fi

# In the background, so that a signal to this script runs its traps at once.
timeout 60 miltertest -vv -s "$script" -D "socket=unix:$sock" >"$dir/miltertest.out" 2>"$dir/miltertest.err" &
mt_pid=$!
wait "$mt_pid"
mt_status=$?
mt_pid=

failed=0
if [ $mt_status -eq 124 ]; then
    echo "FAIL: miltertest did not finish within 60 s"
    failed=1
elif [ $mt_status -eq 141 ]; then
    # miltertest does not ignore SIGPIPE: its next write after the milter closed the
    # connection kills it, without a message from the script.
    echo "FAIL: miltertest killed by SIGPIPE (the milter closed the connection):"
    cat "$dir/miltertest.err"
    failed=1
elif [ $mt_status -ne 0 ]; then
    if [ -s "$dir/miltertest.err" ]; then
        echo "FAIL: miltertest exited with status $mt_status:"
        cat "$dir/miltertest.err"
    else
        # miltertest prints no Lua error messages itself (see miltertest/common.lua).
        echo "FAIL: miltertest exited with status $mt_status and no message" \
             "(a Lua syntax error, or an error outside run())"
    fi
    failed=1
fi

# Packet-level expectations: each "mt-expect:" line is checked against the packets miltertest
# read from the milter since its last write ("mt_milter_read(FD): cmd X, len N" in -vv output).
if ! awk '
    /^miltertest: mt_milter_write\(/ { n = 0; next }
    /^miltertest: mt_milter_read\(/ {
        letter = $4; sub(/,$/, "", letter)
        read[n++] = letter " " $6
        next
    }
    /^mt-expect: / {
        kind = $2; letter = $3; seen = ""; found = 0
        for (i = 0; i < n; i++) {
            seen = seen (i ? ", " : "") read[i]
            split(read[i], f, " ")
            if (kind == "packet" && read[i] == letter " " $4) found = 1
            if (kind == "no-packet" && f[1] == letter) found = 1
        }
        if (kind == "packet") { what = $5; for (i = 6; i <= NF; i++) what = what " " $i }
        else { what = $4; for (i = 5; i <= NF; i++) what = what " " $i }
        if ((kind == "packet") != found) {
            printf "FAIL: %s: expected %s packet %s%s; packets read: %s\n", what,
                   kind == "packet" ? "a" : "no", letter, kind == "packet" ? " of " $4 " bytes" : "",
                   n ? seen : "none"
            bad = 1
        }
        checked++
    }
    END { if (checked) printf "%d packet-level expectation(s) checked\n", checked; exit bad }
' "$dir/miltertest.out"; then
    failed=1
fi

stop_showcase
if [ "$showcase_status" != 0 ]; then
    echo "FAIL: showcase exited with status $showcase_status on SIGTERM"
    failed=1
fi
if grep -Ei ': (warning|error):' "$dir/showcase.log" >/dev/null; then
    echo "FAIL: showcase logged warnings or errors:"
    grep -Ei ': (warning|error):' "$dir/showcase.log"
    failed=1
fi

if [ $failed -ne 0 ]; then
    show_logs
    exit 1
fi
echo "PASS: miltertest $name"
exit 0
