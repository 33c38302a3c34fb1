#!/usr/bin/env bash
# Runs every ```sh block of a document, in order, as one bash script (set -euo pipefail) from
# the top of the source tree, with the build directory linked as ./build: the commands a doc
# shows are the commands a test runs, so the doc cannot drift.
#     run_commands.sh DOC SOURCE_DIR BUILD_DIR
set -euo pipefail
doc=$1 source_dir=$2 build_dir=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The tree as a reader has it: the sources, and the build in ./build.
ln -s "$source_dir"/* "$work"/
rm -f "$work/build"
ln -s "$build_dir" "$work/build"
awk '/^```sh$/ { on = 1; next } /^```/ { on = 0 } on' "$doc" > "$work/commands.sh"
echo "--- the commands of $doc:"
cat "$work/commands.sh"
echo "---"
cd "$work"
# The milters and tools as if installed (the guides call them by name).
export PATH="$build_dir/examples:$build_dir/tools:$PATH"
# Job control (kill %1) as in an interactive shell; every command bounded by the CTest timeout.
timeout 120 bash -euo pipefail -m "$work/commands.sh"
