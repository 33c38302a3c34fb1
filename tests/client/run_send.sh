#!/bin/sh
# Runs cppmilter-send against a showcase process on a UNIX socket in a temporary directory:
#   run_send.sh SHOWCASE CPPMILTER_SEND [--stdin FILE] ARGS...
# Prints the tool's output (stdout, then stderr), then "exit=N". The tool gets
# "--milter unix:<the showcase's socket> --timeout 10s" first unless ARGS hold --milter;
# --stdin FILE feeds FILE on its standard input.
showcase=$1
send=$2
shift 2
stdin=/dev/null
if [ "$1" = "--stdin" ]; then
    stdin=$2
    shift 2
fi
dir=$(mktemp -d /tmp/cppmilter-send-XXXXXX)
"$showcase" --listen "unix:$dir/milter.sock" --threads 1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
i=0
while [ ! -S "$dir/milter.sock" ]; do
    i=$((i + 1))
    if [ $i -gt 1000 ]; then echo "the showcase did not start"; exit 3; fi
    sleep 0.01
done
milter="unix:$dir/milter.sock"
for a in "$@"; do
    if [ "$a" = "--milter" ]; then milter=""; fi
done
if [ -n "$milter" ]; then
    "$send" --milter "$milter" --timeout 10s "$@" < "$stdin" 2>&1
else
    "$send" --timeout 10s "$@" < "$stdin" 2>&1
fi
echo "exit=$?"
