#!/usr/bin/env bash
# The Debian packages of a build directory (after `cpack -G DEB` there), checked as a user
# gets them: contents and dependencies (check_debs.py); unpacked into a scratch root with
# dpkg -x, a milter from that root serves a message over a UNIX socket to cppmilter-send
# from that root, and stops on SIGTERM; systemd-analyze verifies the units against the
# scratch root's binaries (--root: nothing is installed on this machine).
#
# usage: tests/package/check_debs.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)

python3 "$here/check_debs.py" "$build" "$(cd "$here/../.." && pwd)"

root=$(mktemp -d /tmp/cppmilter-debs.XXXXXX)
milter_pid=
cleanup() {
    if [ -n "$milter_pid" ] && kill -0 "$milter_pid" 2>/dev/null; then kill -KILL "$milter_pid"; fi
    rm -rf "$root"
}
trap cleanup EXIT
for deb in "$build"/packages/*.deb; do dpkg -x "$deb" "$root"; done

milter="$root/usr/sbin/cppmilter-sender-block"
send="$root/usr/bin/cppmilter-send"

# --help names the options the units and config files use.
help=$("$milter" --help)
for option in --config --listen --log-level --block; do
    grep -q -e "$option" <<<"$help" || { echo "check_debs: $milter --help does not mention $option"; exit 1; }
done
"$milter" --print-negotiation | grep -q '^protocol: ' || { echo "check_debs: --print-negotiation"; exit 1; }

# Its packaged config file, as the service reads it (every line commented out) plus a block list.
config="$root/sender-block.conf"
cp "$root/etc/cppmilter/sender-block.conf" "$config"
echo "block = blocked.example" >>"$config"
socket="$root/milter.sock"
"$milter" --config "$config" --listen "unix:$socket" --log-level info 2>"$root/milter.log" &
milter_pid=$!
for _ in $(seq 100); do # up to 10 s for the socket file
    [ -S "$socket" ] && break
    kill -0 "$milter_pid" 2>/dev/null || break
    sleep 0.1
done
[ -S "$socket" ] || { echo "check_debs: the milter did not listen:"; cat "$root/milter.log"; exit 1; }

printf 'From: a@ok.example\r\nTo: b@example.org\r\nSubject: packaged\r\n\r\nhello\r\n' >"$root/message.eml"
"$send" --milter "unix:$socket" --from a@ok.example --to b@example.org "$root/message.eml" >"$root/accepted.txt" \
    || { echo "check_debs: a message from ok.example was not accepted:"; cat "$root/accepted.txt"; exit 1; }
status=0
"$send" --milter "unix:$socket" --from a@blocked.example --to b@example.org "$root/message.eml" >"$root/rejected.txt" \
    || status=$?
if [ "$status" -ne 1 ] || ! grep -q '550' "$root/rejected.txt"; then
    echo "check_debs: a message from blocked.example was not rejected with 550 (exit $status):"
    cat "$root/rejected.txt"
    exit 1
fi

kill -TERM "$milter_pid"
status=0
wait "$milter_pid" || status=$?
milter_pid=
[ "$status" -eq 0 ] || { echo "check_debs: the milter exited with $status after SIGTERM"; cat "$root/milter.log"; exit 1; }
[ ! -e "$socket" ] || { echo "check_debs: the socket file is left behind"; exit 1; }
echo "check_debs: cppmilter-sender-block from the package served cppmilter-send over a UNIX socket and stopped on SIGTERM"

# The units. systemd-analyze verify needs every unit's world in place: its ExecStart binary,
# /bin/kill, sysinit.target, the man pages in Documentation=. --root=<scratch root> has none
# of the system's, so the units are verified where they really go: with --install (CI, as
# root on a throwaway machine) the packages are installed for real (which also runs their
# maintainer scripts), verified, and purged again.
if [ "${2:-}" != --install ]; then
    echo "check_debs: units not verified (needs --install: installs the packages on this machine)"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "check_debs: --install needs root"; exit 1; }
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$build"/packages/*.deb >"$root/apt.log" 2>&1 \
    || { cat "$root/apt.log"; exit 1; }
installed() { # purge on any exit from here on: the machine goes on to other builds
    dpkg --purge cppmilter-milters libcppmilter-dev >/dev/null || true
    cleanup
}
trap installed EXIT
getent passwd cppmilter >/dev/null || { echo "check_debs: postinst made no cppmilter user"; exit 1; }
conffiles=$(dpkg-query -W -f='${Conffiles}\n' cppmilter-milters | awk 'NF { print $1 }' | sort)
[ "$conffiles" = "$(ls /etc/cppmilter/*.conf | sort)" ] \
    || { echo "check_debs: dpkg's conffiles differ from /etc/cppmilter:"; echo "$conffiles"; exit 1; }
units=(/usr/lib/systemd/system/cppmilter-*.socket /usr/lib/systemd/system/cppmilter-*.service)
# Documentation=man:... pages are checked with man, when there is one.
man_check=no
if command -v man >/dev/null; then man_check=yes; fi
# verify prints nothing when all is well; any line is a finding.
findings=$(systemd-analyze verify --man="$man_check" "${units[@]}" 2>&1 || echo "systemd-analyze exited with $?")
if [ -n "$findings" ]; then
    echo "check_debs: systemd-analyze verify:"
    echo "$findings"
    exit 1
fi
echo "check_debs: systemd-analyze verify --man=$man_check: ${#units[@]} installed units, no findings"
systemd-analyze security --offline=yes /usr/lib/systemd/system/cppmilter-sender-block.service 2>&1 | tail -1
dpkg --purge cppmilter-milters libcppmilter-dev >/dev/null
trap cleanup EXIT
[ ! -e /etc/cppmilter ] && [ ! -e /usr/sbin/cppmilter-sender-block ] \
    || { echo "check_debs: files left after dpkg --purge"; ls -la /etc/cppmilter /usr/sbin/cppmilter-* 2>&1; exit 1; }
echo "check_debs: installed, verified and purged"
