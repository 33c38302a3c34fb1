#!/usr/bin/python3
"""Two ratelimit instances behind HAProxy (TCP mode, a health check that speaks OPTNEG),
sharing one Redis: the limit holds across instances; an instance killed mid-load costs no
message a verdict (every message is answered by the survivor or ends in an error the MTA
turns into its milter_default_action, and every accepted one was counted); the health check
takes the dead instance out. docs/deploy/scale-out.md describes the configuration.

    scaleout_test.py RATELIMIT CPPMILTER_SEND REDIS_SERVER HAPROXY

Everything listens on 127.0.0.1, is stopped by PID, and the whole run is bounded (SIGALRM).
Exit 0 pass, 1 fail, 77 skipped."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "interop"))
import postfix_e2e as e2e  # noqa: E402 - shared helpers of the end-to-end scripts

free_port = e2e.free_port

BUDGET = 150      # seconds for the whole run
WAIT = 15         # seconds for any one thing to happen
LIMIT = 5         # messages per sender per hour
SKIP = 77

# The health check's bytes (PROTOCOL.md §3.1, §5.3): OPTNEG as Postfix sends it (version 6,
# every action, every protocol bit), then QUIT so the milter closes quietly. The reply must
# start with an OPTNEG packet: 4 length bytes, 'O' (4F), version 6.
OPTNEG_OFFER = "0000000d4f00000006000001ff001fffff"
QUIT = "0000000151"
OPTNEG_REPLY = "^[0-9A-Fa-f]{8}4[Ff]00000006"

failures = []


def check(cond, text):
    print(("PASS: " if cond else "FAIL: ") + text, flush=True)
    if not cond:
        failures.append(text)


def wait_until(what, predicate, timeout=WAIT):
    return e2e.wait_until(what, predicate, timeout)


class Process:
    def __init__(self, name, args, log):
        self.name, self.log_path = name, log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT)


def start_milter(exe, name, tmp, redis_port):
    p = Process(name, [exe, "--listen", "inet:127.0.0.1:0", "--log-level", "info", "--threads", "2",
                       "--limit", f"{LIMIT}/1h", "--redis", f"127.0.0.1:{redis_port}"], tmp / f"{name}.log")

    def listening():
        if not p.alive():
            raise RuntimeError(f"{name} exited: {p.log()}")
        return re.search(r"listening on inet:127\.0\.0\.1:(\d+)", p.log())

    where = wait_until(f"{name} to listen", listening)
    p.port = int(where.group(1))
    return p


def haproxy_config(tmp, port, milters):
    servers = "\n".join(f"    server {m.name} 127.0.0.1:{m.port} check inter 300ms fall 2 rise 2" for m in milters)
    return f"""global
    stats socket {tmp}/haproxy.sock mode 600 level admin
    log stderr format raw local0 info

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 2
    option redispatch

frontend milter
    bind 127.0.0.1:{port}
    default_backend ratelimit

backend ratelimit
    balance roundrobin
    option tcp-check
    tcp-check connect
    tcp-check send-binary {OPTNEG_OFFER} comment "OPTNEG offer"
    tcp-check expect rbinary {OPTNEG_REPLY} comment "OPTNEG reply"
    tcp-check send-binary {QUIT} comment "QUIT"
{servers}
"""


def stats(tmp):
    """{server: (status, total sessions)} from HAProxy's stats socket."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(WAIT)
        s.connect(str(tmp / "haproxy.sock"))
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    out = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(",")))
        if row.get("pxname") == "ratelimit" and row.get("svname") not in ("FRONTEND", "BACKEND"):
            out[row["svname"]] = (row["status"], int(row["stot"] or 0))
    return out


def send(sender_exe, port, sender, tmp):
    """One message through HAProxy with cppmilter-send: (exit status, output)."""
    msg = tmp / "message.eml"
    if not msg.exists():
        msg.write_text("From: <x@example.org>\r\nTo: <rcpt@example.net>\r\nSubject: scale-out\r\n\r\nbody\r\n")
    r = subprocess.run([sender_exe, "--milter", f"inet:127.0.0.1:{port}", "--from", sender, "--to", "rcpt@example.net",
                        "--timeout", "10s", str(msg)], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def redis_count(redis_port, sender):
    """What Redis holds for sender's hour window (the sum of its buckets)."""
    with socket.create_connection(("127.0.0.1", redis_port), timeout=WAIT) as s:
        key = f"ratelimit:{{sender:{sender}}}:3600"
        s.sendall(f"*2\r\n$5\r\nHVALS\r\n${len(key)}\r\n{key}\r\n".encode())
        data = b""
        while not (m := re.fullmatch(rb"\*(\d+)\r\n((?:\$\d+\r\n\d+\r\n)*)", data)) or \
                m.group(2).count(b"\r\n") < 2 * int(m.group(1)):
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError(f"redis closed the connection after {data!r}")
            data += chunk
    return sum(int(v) for v in re.findall(rb"\$\d+\r\n(\d+)\r\n", data))


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 64
    milter_exe, sender_exe, redis_exe, haproxy_exe = sys.argv[1:]
    for exe in (milter_exe, sender_exe, redis_exe, haproxy_exe):
        if not os.access(exe, os.X_OK):
            print(f"SKIP: {exe} is not an executable")
            return SKIP

    def on_alarm(signum, _frame):
        raise TimeoutError(f"the run took over {BUDGET} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(BUDGET)
    tmp = Path(tempfile.mkdtemp(prefix="cppmilter-scaleout-", dir="/tmp"))
    procs = []
    try:
        redis_port, proxy_port = free_port(), free_port()
        redis = Process("redis", [redis_exe, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", str(tmp)], tmp / "redis.log")
        procs.append(redis)
        wait_until("redis to listen", lambda: "Ready to accept connections" in redis.log())
        a = start_milter(milter_exe, "a", tmp, redis_port)
        procs.append(a)
        b = start_milter(milter_exe, "b", tmp, redis_port)
        procs.append(b)
        (tmp / "haproxy.cfg").write_text(haproxy_config(tmp, proxy_port, [a, b]))
        haproxy = Process("haproxy", [haproxy_exe, "-db", "-f", str(tmp / "haproxy.cfg")], tmp / "haproxy.log")
        procs.append(haproxy)
        wait_until("HAProxy's stats socket", lambda: (tmp / "haproxy.sock").exists())
        up = wait_until("both instances to pass the OPTNEG health check",
                        lambda: (s := stats(tmp)) and all(v[0] == "UP" for v in s.values()) and s)
        check(sorted(up) == ["a", "b"], f"HAProxy sees both instances UP after the OPTNEG health check: {up}")

        # 1. The limit holds across instances: LIMIT messages pass, round robin over both.
        results = [send(sender_exe, proxy_port, "alice@example.org", tmp) for _ in range(LIMIT + 1)]
        check(all(rc == 0 for rc, _ in results[:LIMIT]),
              f"the first {LIMIT} messages of alice@example.org are accepted: {[rc for rc, _ in results]}")
        sessions = stats(tmp)
        check(all(v[1] >= 2 for v in sessions.values()), f"both instances served some of them: {sessions}")
        rc, out = results[LIMIT]
        check(rc == 1 and re.search(r"451 4\.7\.1 too many messages from sender alice@example\.org: limit 5 per 1h; "
                                    r"try again in \w+", out) is not None,
              f"message {LIMIT + 1} gets 451 4.7.1 with the retry hint, whichever instance answers: {out.strip()[-300:]!r}")

        # 2. One instance killed mid-load: every message still gets a verdict.
        outcomes = {}
        lock = threading.Lock()

        def worker(k):
            for i in range(12):
                sender = f"load{k}-{i}@example.org"
                rc, out = send(sender_exe, proxy_port, sender, tmp)
                with lock:
                    outcomes[sender] = (rc, out)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        wait_until("some of the load to be answered", lambda: len(outcomes) >= 8, timeout=60)
        a.stop(signal.SIGKILL)   # no drain: connections on it are cut
        for t in threads:
            t.join(90)
        check(len(outcomes) == 48, f"all 48 messages of the load ended: {len(outcomes)}")
        accepted = [s for s, (rc, _) in outcomes.items() if rc == 0]
        errors = {s: out.strip().splitlines()[-1] for s, (rc, out) in outcomes.items() if rc != 0}
        # Accepted means a live instance counted it (never let through unseen); an error is a
        # connection cut by the kill, which the MTA answers with milter_default_action.
        uncounted = [s for s in accepted if redis_count(redis_port, s) != 1]
        check(not uncounted, f"every accepted message ({len(accepted)}) was counted in Redis: uncounted {uncounted}")
        check(all(rc == 2 and "cppmilter-send:" in out for rc, out in outcomes.values() if rc != 0),
              f"the others ({len(errors)}) ended in a connection error (the MTA's milter_default_action): {errors}")
        check(len(accepted) >= 40, f"most of the load was answered by the survivor: {len(accepted)} of 48")

        # 3. The health check takes the dead instance out; the survivor takes every message.
        down = wait_until("HAProxy to mark a DOWN", lambda: stats(tmp).get("a", ("?",))[0].startswith("DOWN") and stats(tmp))
        check(down["a"][0].startswith("DOWN") and down["b"][0] == "UP", f"HAProxy's stats: a DOWN, b UP: {down}")
        check(re.search(r"Server ratelimit/a is DOWN", haproxy.log()) is not None,
              "HAProxy's log says: Server ratelimit/a is DOWN")
        after = [send(sender_exe, proxy_port, f"after{i}@example.org", tmp)[0] for i in range(6)]
        check(after == [0] * 6, f"after that, every message is answered by b: {after}")
        results = [send(sender_exe, proxy_port, "alice@example.org", tmp)[0] for _ in range(2)]
        check(results == [1, 1], f"alice@example.org is still over her limit on the survivor: {results}")
        check(b.alive() and "error" not in b.log().lower(), "b is alive and logged no error")
    except Exception as e:  # noqa: BLE001 - reported, then everything is stopped
        failures.append(f"{type(e).__name__}: {e}")
        print(f"FAIL: {type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        for p in reversed(procs):
            p.stop()
        if failures:
            for p in procs:
                print(f"---- {p.name} log (last lines)\n" + "\n".join(p.log().splitlines()[-15:]))
        shutil.rmtree(tmp, ignore_errors=True)
    print("scaleout: " + ("FAIL" if failures else "PASS"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
