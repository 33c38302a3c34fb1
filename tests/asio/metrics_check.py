#!/usr/bin/python3
"""--metrics-listen scraped and parsed by an independent parser (Debian python3-prometheus-client).

    metrics_check.py SHOWCASE CPPMILTER_SEND

Starts showcase with metrics, sends messages through it with cppmilter-send (some accepted, some
refused at MAIL), one malformed packet and one connection refused at --max-connections, then
scrapes /metrics and checks that every counter agrees with what was sent. Exit 0 pass, 1 fail,
77 when prometheus_client is missing.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("SKIP: python3-prometheus-client is not installed")
    sys.exit(77)

ACCEPTED, REFUSED = 7, 3


def main():
    showcase, send = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="cppmilter-metrics-")
    sock, log = os.path.join(tmp, "s.sock"), os.path.join(tmp, "log")
    message = os.path.join(tmp, "m.eml")
    with open(message, "wb") as f:
        f.write(b"From: <a@example.org>\r\nSubject: metrics\r\n\r\nbody\r\n")
    with open(log, "wb") as out:
        milter = subprocess.Popen([showcase, "--listen", f"unix:{sock}", "--metrics-listen", "inet:0@127.0.0.1",
                                   "--log-level", "info", "--threads", "2", "--max-connections", "1"], stderr=out, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        port = None
        while time.monotonic() < deadline and port is None:
            m = re.search(r"metrics served on inet:127\.0\.0\.1:(\d+)", open(log).read())
            port = m and int(m.group(1))
            if milter.poll() is not None:
                raise SystemExit(f"FAIL: showcase exited: {open(log).read()}")
            time.sleep(0.05)
        if port is None:
            raise SystemExit("FAIL: no metrics address in the log")

        def send_one(sender):
            return subprocess.run([send, "--milter", f"unix:{sock}", "--from", sender, "--to", "b@example.test",
                                   "--timeout", "10s", message], capture_output=True, timeout=30).returncode

        results = [send_one("a@example.org") for _ in range(ACCEPTED)]
        results += [send_one("x@blocked.example") for _ in range(REFUSED)]
        if results != [0] * ACCEPTED + [1] * REFUSED:
            raise SystemExit(f"FAIL: cppmilter-send exit codes {results}")
        with socket.socket(socket.AF_UNIX) as s:   # a packet longer than --max-packet allows
            s.connect(sock)
            s.sendall(b"\x7f\xff\xff\xffO")
            s.settimeout(10)
            if s.recv(16) != b"":
                raise SystemExit("FAIL: the malformed connection was not closed")

        with socket.socket(socket.AF_UNIX) as held, socket.socket(socket.AF_UNIX) as over:
            held.connect(sock)      # the one connection --max-connections allows
            time.sleep(0.2)         # accepted before the next one arrives
            over.connect(sock)      # closed at once
            over.settimeout(10)
            if over.recv(16) != b"":
                raise SystemExit("FAIL: a connection over --max-connections was not closed")

        def scrape():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                ctype = r.headers["Content-Type"]
                if not ctype.startswith("text/plain; version=0.0.4"):
                    raise SystemExit(f"FAIL: Content-Type {ctype}")
                return r.read().decode()

        # The last connection's counters are written as it closes: wait until it is gone.
        while True:
            values = {}
            for family in text_string_to_metric_families(scrape()):
                for sample in family.samples:
                    values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
            if values.get(("cppmilter_connections_open", ())) == 0 or time.monotonic() > deadline + 10:
                break
            time.sleep(0.05)

        def value(name, **labels):
            return values.get((name, tuple(sorted(labels.items()))), 0)

        sent = ACCEPTED + REFUSED
        expected = {
            ("cppmilter_connections_open", ()): 0,
            ("cppmilter_connections_accepted_total", ()): sent + 2,
            ("cppmilter_connections_refused_total", ()): 1,
            ("cppmilter_malformed_input_total", ()): 1,
            ("cppmilter_hook_failures_total", ()): 0,
            ("cppmilter_commands_total", (("command", "optneg"),)): sent,
            ("cppmilter_commands_total", (("command", "mail"),)): sent,
            ("cppmilter_commands_total", (("command", "rcpt"),)): ACCEPTED,
            ("cppmilter_commands_total", (("command", "end_of_message"),)): ACCEPTED,
            ("cppmilter_verdicts_total", (("stage", "mail"), ("verdict", "reply_code"))): REFUSED,
            ("cppmilter_verdicts_total", (("stage", "mail"), ("verdict", "continue"))): ACCEPTED,
            ("cppmilter_verdicts_total", (("stage", "end_of_message"), ("verdict", "continue"))): ACCEPTED,
            ("cppmilter_modifications_total", (("kind", "add_header"),)): ACCEPTED,
            ("cppmilter_command_duration_seconds_count", (("command", "mail"),)): sent,
            ("cppmilter_command_duration_seconds_bucket", (("command", "mail"), ("le", "+Inf"))): sent,
        }
        wrong = [f"{name}{dict(labels)} = {value(name, **dict(labels))}, expected {want}"
                 for (name, labels), want in expected.items() if value(name, **dict(labels)) != want]
        buckets = [v for (n, l), v in values.items() if n == "cppmilter_command_duration_seconds_bucket"
                   and dict(l)["command"] == "mail"]
        if buckets != sorted(buckets):
            wrong.append(f"mail's histogram buckets are not cumulative: {buckets}")
        if wrong:
            raise SystemExit("FAIL:\n  " + "\n  ".join(wrong))
        print(f"PASS: {len(values)} samples parsed; every counter agrees with {sent} messages, "
              "1 malformed connection, 1 refused")
    finally:
        milter.send_signal(signal.SIGTERM)
        milter.wait(10)


if __name__ == "__main__":
    main()
