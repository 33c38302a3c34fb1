#!/usr/bin/env python3
"""End-to-end test of the webhook example milter (examples/webhook.hpp) against a real Postfix.

    postfix_webhook.py PATH/TO/webhook PATH/TO/webhook_server.py [--keep]

Starts the test policy endpoint (tests/examples/webhook_server.py: HTTPS with a CA made for
the run), webhook on a UNIX socket asking it at end of message (--stage eom --header Subject
--ca-file ...), and a private Postfix (tests/interop/postfix_e2e.py's run_suite), then checks:

* policy_reject: a sender the endpoint refuses gets its 550 5.7.1 reply at the end of DATA, and
  the next message on the same connection is delivered.
* add_headers: a delivered message carries the endpoint's X-Policy headers: the queue id it
  got (macro i) is Postfix's, and the Subject it got was decoded from RFC 2047.

Exit status 0 when all pass, 1 when one fails, 77 (skip) without Postfix or root.
"""

import argparse
import json
import os
import smtplib
import subprocess
import sys
from email.header import decode_header, make_header

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import postfix_e2e as e2e  # noqa: E402

DOMAIN = e2e.DOMAIN


def message(test_id, subject, sender):
    headers = [f"From: <{sender}>", f"To: <rcpt@{DOMAIN}>", f"Subject: {subject}",
               f"Message-ID: <{test_id}@e2e.invalid>", f"X-Test-Id: {test_id}"]
    return ("\r\n".join(headers) + "\r\n\r\nbody\r\n").encode()


class Reject:
    name = "policy_reject"

    def send(self, ctx):
        tid = ctx.tid(self.name)
        with ctx.connect() as s:
            try:
                s.sendmail("blocked@example.org", [f"rcpt@{DOMAIN}"], message(tid, "hello", "blocked@example.org"))
                raise e2e.Failure(f"{tid}: accepted, expected 550 5.7.1 blocked by policy")
            except smtplib.SMTPDataError as e:
                got = (e.smtp_code, e.smtp_error.decode(errors="replace"))
                e2e.expect(got == (550, "5.7.1 blocked by policy"), f"{tid}: end of DATA answered {got}")
            self.next_tid = ctx.tid(self.name + "-next")
            self.next_qid = ctx.send(s, self.next_tid, [f"next@{DOMAIN}"],
                                     message(self.next_tid, "next", "alice@example.org"), sender="alice@example.org")
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        e2e.delivered_to(ctx, tid, [])
        e2e.expect("milter-reject: END-OF-MESSAGE" in ctx.postfix.log() and "5.7.1 blocked by policy" in ctx.postfix.log(),
                   f"{tid}: Postfix logged no milter-reject with the endpoint's text")
        e2e.delivered_to(ctx, self.next_tid, [f"next@{DOMAIN}"])
        return f"550 5.7.1 blocked by policy; the next message on the connection delivered ({self.next_qid})"


class AddHeaders:
    name = "add_headers"

    def send(self, ctx):
        tid = ctx.tid(self.name)
        with ctx.connect() as s:
            self.qid = ctx.send(s, tid, [f"rcpt@{DOMAIN}"],
                                message(tid, "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=", "alice@example.org"),
                                sender="alice@example.org")
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        msg = e2e.delivered_to(ctx, tid, [f"rcpt@{DOMAIN}"])[f"rcpt@{DOMAIN}"]
        e2e.expect(msg.get_all("X-Policy") == ["checked"], f"{tid}: X-Policy {msg.get_all('X-Policy')}")
        e2e.expect(msg.get_all("X-Policy-Queue-Id") == [self.qid],
                   f"{tid}: X-Policy-Queue-Id {msg.get_all('X-Policy-Queue-Id')}, expected [{self.qid!r}]")
        subject = str(make_header(decode_header(msg.get("X-Policy-Subject", ""))))
        e2e.expect(subject == "Grüße", f"{tid}: X-Policy-Subject {subject!r}, expected 'Grüße' (decoded and re-encoded)")
        return f"delivered ({self.qid}) with X-Policy: checked, its queue id and the decoded Subject"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("webhook", help="path of the webhook binary")
    ap.add_argument("server", help="path of tests/examples/webhook_server.py")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (printed)")
    args = ap.parse_args()
    if os.geteuid() != 0 or e2e.tool("postfix") is None:
        return e2e.run_suite(args.webhook, "unix", [])  # prints why it skips
    server = subprocess.Popen([sys.executable, args.server, "--timeout", "280"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        ports = json.loads(server.stdout.readline())
        milter_args = ["--url", f"https://127.0.0.1:{ports['https']}/policy", "--ca-file", ports["ca"],
                       "--stage", "eom", "--header", "Subject", "--request-timeout", "5s"]
        return e2e.run_suite(args.webhook, "unix", [Reject(), AddHeaders()], keep=args.keep, milter_args=milter_args)
    finally:
        server.stdin.close()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
