#!/usr/bin/env bash
# What a milter costs to build: for each example (and the tools), the time to compile its
# translation unit and link it, one job, the libraries already built; and the size of the
# binary, as built and stripped. Prints a Markdown table.
#
#   bench/build_costs.sh            # Release build in build-bench/ (BUILD=dir to change)
#   REPEAT=3 bench/build_costs.sh   # the median of 3 compilations each
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-$root/build-bench}
repeat=${REPEAT:-1}
targets="decode_session sender_block tagger showcase stamp stamp_answering cppmilter-send"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCPPMILTER_BUILD_BENCH=ON \
    -DCPPMILTER_BUILD_TESTS=OFF -DCPPMILTER_BUILD_EXAMPLES=ON >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"${JOBS:-2}" --target $targets >/dev/null

echo "| binary | compile + link (s, -j1) | size | stripped | static |"
echo "|---|---:|---:|---:|---|"
for target in $targets; do
    objects=$(find "$build" -path "*/CMakeFiles/$target.dir/*.o")
    binary=$(find "$build" -type f -perm -u+x -name "$target" -not -path "*/CMakeFiles/*" | head -1)
    times=()
    for _ in $(seq 1 "$repeat"); do
        # shellcheck disable=SC2086
        rm -f $objects "$binary"
        start=$(date +%s.%N)
        cmake --build "$build" -j1 --target "$target" >/dev/null
        end=$(date +%s.%N)
        times+=("$(awk "BEGIN {print $end - $start}")")
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    stripped=$(mktemp)
    strip -o "$stripped" "$binary"
    if ldd "$binary" >/dev/null 2>&1; then static=no; else static=yes; fi
    printf '| %s | %.1f | %s | %s | %s |\n' "$target" "$median" \
        "$(numfmt --to=iec-i --suffix=B --format=%.2f "$(stat -c %s "$binary")")" \
        "$(numfmt --to=iec-i --suffix=B --format=%.2f "$(stat -c %s "$stripped")") ($(stat -c %s "$stripped") B)" "$static"
    rm -f "$stripped"
done
