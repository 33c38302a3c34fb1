#!/bin/sh
# loadgen against the stamp example on a UNIX socket: 2 connections x 20 messages, every
# reply checked (loadgen exits 1 on any error). Usage: loadgen_smoke.sh STAMP LOADGEN
set -eu
stamp=$1 loadgen=$2
dir=$(mktemp -d /tmp/cppmilter-loadgen-XXXXXX)
"$stamp" --listen "unix:$dir/stamp.sock" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
i=0
while [ ! -S "$dir/stamp.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
"$loadgen" --milter "unix:$dir/stamp.sock" --connections 2 --messages 20 --body-size 100000 --timeout 10s
