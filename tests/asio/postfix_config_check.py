#!/usr/bin/python3
"""--print-postfix-config's lines are accepted by Postfix's own postconf and mean what they say.

    postfix_config_check.py MILTER

Runs MILTER --print-postfix-config with a socket in Postfix's chroot and a long --hook-timeout,
writes every non-comment line into a scratch main.cf with `postconf -c DIR -e`, reads them back
with `postconf -c DIR -h`, and checks the socket (named from inside the chroot) and timeouts
above --hook-timeout. Exit 0 pass, 1 fail, 77 when Postfix is not installed.
"""
import os
import shutil
import subprocess
import sys
import tempfile

postconf = shutil.which("postconf", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
if postconf is None:
    print("SKIP: postconf not found (apt-get install postfix)")
    sys.exit(77)

milter = sys.argv[1]
out = subprocess.run([milter, "--print-postfix-config", "--listen", "unix:/var/spool/postfix/milter/m.sock",
                      "--listen", "inet:8891@127.0.0.1", "--hook-timeout", "2m"],
                     capture_output=True, text=True, timeout=30)
if out.returncode != 0:
    sys.exit(f"FAIL: exit {out.returncode}: {out.stderr}")
lines = [line for line in out.stdout.splitlines() if line and not line.startswith("#")]
with tempfile.TemporaryDirectory() as conf:
    open(os.path.join(conf, "main.cf"), "w").close()
    r = subprocess.run([postconf, "-c", conf, "-e", *lines], capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or r.stderr:
        sys.exit(f"FAIL: postconf -e refused {lines}: {r.stderr}")

    def get(name):
        return subprocess.run([postconf, "-c", conf, "-h", name], capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()

    want = {
        "smtpd_milters": "unix:/milter/m.sock, inet:127.0.0.1:8891",
        "non_smtpd_milters": "$smtpd_milters",
        "milter_protocol": "6",
        "milter_default_action": "tempfail",
    }
    wrong = [f"{k} = {get(k)!r}, expected {v!r}" for k, v in want.items() if get(k) != v]
    for timeout in ("milter_command_timeout", "milter_content_timeout"):
        value = get(timeout)
        if not (value.endswith("s") and int(value[:-1]) > 120):
            wrong.append(f"{timeout} = {value!r}: not above --hook-timeout 2m")
    if wrong:
        sys.exit("FAIL:\n  " + "\n  ".join(wrong))
print(f"PASS: postconf accepted {len(lines)} lines: " + "; ".join(lines))
