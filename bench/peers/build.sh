#!/usr/bin/env bash
# Builds the stamp benchmark peers into OUTDIR:
#   libmilter_stamp, limit, gomilter_stamp (binaries) and pymilter_stamp.py.
# Installs nothing: the Debian packages named below must be there already.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 64
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

missing() {
    echo "bench/peers/build.sh: $1 is missing: apt-get install -y $2" >&2
    exit 1
}

command -v gcc >/dev/null 2>&1 || missing "gcc" "gcc"
command -v go >/dev/null 2>&1 || missing "go" "golang-go"
[ -f /usr/include/libmilter/mfapi.h ] || missing "libmilter/mfapi.h" "libmilter-dev"
gomilter_src=/usr/share/gocode/src/github.com/emersion/go-milter
[ -f "$gomilter_src/server.go" ] || missing "$gomilter_src" "golang-github-emersion-go-milter-dev"
[ -x /usr/bin/python3 ] || missing "/usr/bin/python3" "python3"
/usr/bin/python3 -c 'import Milter' >/dev/null 2>&1 || missing "the python3 module Milter" "python3-milter"

# Sendmail's libmilter.
gcc -O2 -Wall -Wextra -o "$out/libmilter_stamp" "$here/libmilter_stamp.c" -lmilter -lpthread

# The limit: plain C, no library.
gcc -O2 -Wall -Wextra -Werror -o "$out/limit" "$here/limit.c"

# go-milter, offline, from Debian's sources in /usr/share/gocode (GOPATH mode:
# go-milter's non-test files import only the standard library).
(
    cd "$here/gomilter_stamp"
    env GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOPROXY=off \
        GOCACHE="$out/.gocache" CGO_ENABLED=0 \
        go build -o "$out/gomilter_stamp" .
)

# pymilter: the script itself (#!/usr/bin/python3, Debian's python3-milter).
install -m 0755 "$here/pymilter_stamp.py" "$out/pymilter_stamp.py"
