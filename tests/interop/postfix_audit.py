#!/usr/bin/env python3
"""End-to-end test of the audit example milter (examples/audit.hpp) against a real Postfix.

    postfix_audit.py PATH/TO/audit [--keep]

Starts audit on a UNIX socket writing its lines to a file (--output), and a private Postfix
(tests/interop/postfix_e2e.py's run_suite), then checks the lines:

* delivered: a delivered message has one line with outcome end_of_message, Postfix's queue id
  (macro i), the client address 127.0.0.1, the HELO name, the envelope, the body size and
  its From and Subject decoded from RFC 2047.
* aborted: a transaction the client resets (RSET) after RCPT has a line with outcome aborted
  and its sender and recipient.

Exit status 0 when all pass, 1 when one fails, 77 (skip) without Postfix or root.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import postfix_e2e as e2e  # noqa: E402

DOMAIN = e2e.DOMAIN
HELO = "client.e2e.invalid"     # the name e2e.Context.connect() says in EHLO


def lines_of(path, sender):
    with open(path, encoding="utf-8") as f:
        return [line for line in map(json.loads, f) if line["sender"] == f"<{sender}>"]


class Delivered:
    name = "delivered"

    def __init__(self, output):
        self.output = output

    def send(self, ctx):
        tid = ctx.tid(self.name)
        self.sender = f"delivered-{os.getpid()}@example.org"
        body = "line one\r\nline two\r\n"
        data = "\r\n".join([f"From: =?UTF-8?Q?J=C3=B6rg?= <{self.sender}>", f"To: <rcpt@{DOMAIN}>",
                            "Subject: =?ISO-8859-1?Q?caf=E9?=", f"Message-ID: <{tid}@e2e.invalid>",
                            f"X-Test-Id: {tid}"]) + "\r\n\r\n" + body
        with ctx.connect() as s:
            self.qid = ctx.send(s, tid, [f"rcpt@{DOMAIN}"], data.encode(), sender=self.sender)
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        e2e.delivered_to(ctx, tid, [f"rcpt@{DOMAIN}"])
        got = lines_of(self.output, self.sender)
        e2e.expect(len(got) == 1, f"{tid}: {len(got)} lines for {self.sender}, expected 1")
        line = got[0]
        # Postfix adds a Date to a local client's message (local_header_rewrite_clients) before
        # milters see the headers: present, whatever its value.
        e2e.expect(len(line["headers"].pop("Date", [])) == 1, f"{tid}: no Date in {line['headers']}")
        want = {"outcome": "end_of_message", "queue_id": self.qid, "client_address": "127.0.0.1", "helo": HELO,
                "recipients": [f"<rcpt@{DOMAIN}>"],
                "headers": {"From": [f"Jörg <{self.sender}>"], "To": [f"<rcpt@{DOMAIN}>"], "Subject": ["café"],
                            "Message-ID": [f"<{tid}@e2e.invalid>"]}}
        for key, value in want.items():
            e2e.expect(line.get(key) == value, f"{tid}: {key} is {line.get(key)!r}, expected {value!r}")
        # Postfix adds nothing to the body; it may add headers (Received, Date), not counted.
        e2e.expect(line["size"] == len("line one\r\nline two\r\n"), f"{tid}: size {line['size']}")
        return f"one line: queue id {self.qid}, client, HELO, envelope, size, decoded From and Subject"


class Aborted:
    name = "aborted"

    def __init__(self, output):
        self.output = output

    def send(self, ctx):
        self.sender = f"aborted-{os.getpid()}@example.org"
        with ctx.connect() as s:
            code, _ = s.mail(f"<{self.sender}>")
            e2e.expect(code == 250, f"MAIL answered {code}")
            code, _ = s.rcpt(f"<rcpt@{DOMAIN}>")
            e2e.expect(code == 250, f"RCPT answered {code}")
            s.rset()
            s.quit()

    def check(self, ctx):
        got = []
        e2e.wait_until("audit to write the aborted line", lambda: got.extend(lines_of(self.output, self.sender)) or got)
        e2e.expect(len(got) == 1, f"{len(got)} lines for {self.sender}, expected 1")
        line = got[0]
        e2e.expect(line["outcome"] == "aborted", f"outcome {line['outcome']!r}, expected 'aborted'")
        e2e.expect(line["recipients"] == [f"<rcpt@{DOMAIN}>"], f"recipients {line['recipients']}")
        e2e.expect(line["timings_us"]["data"] is None, f"timings {line['timings_us']}")
        return "RSET after RCPT: one line, outcome aborted"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("audit", help="path of the audit binary")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (printed)")
    args = ap.parse_args()
    out_dir = tempfile.mkdtemp(prefix="cppmilter-audit-")
    output = os.path.join(out_dir, "audit.json")
    try:
        return e2e.run_suite(args.audit, "unix", [Delivered(output), Aborted(output)], keep=args.keep,
                             milter_args=["--output", output])
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
