#!/usr/bin/env python3
"""End-to-end test of the align example milter (examples/align.hpp) against a real Postfix.

    postfix_align.py PATH/TO/align [--suite rules|local_client|dry_run|all] [--keep]

Each suite starts align on a UNIX socket and a private Postfix (tests/interop/postfix_e2e.py's
run_suite), speaks SMTP to it and checks the SMTP replies, Postfix's log, the milter's log and
the delivered mail:

* rules: an aligned message is delivered; an unaligned one, one without From and one with two
  From headers get align's 550 5.7.1 reply at the end of DATA, with its text, and the next
  message on the same connection is delivered; a bounce (MAIL FROM:<>) is aligned with the
  HELO name. Postfix is told not to add a missing From (`local_header_rewrite_clients =`, what
  it does for every remote client anyway).
* local_client: Postfix's default `local_header_rewrite_clients = permit_inet_interfaces`
  makes a client on 127.0.0.1 local: Postfix adds the missing From from the envelope sender
  before the milter sees the headers, so a message sent without From is delivered.
* dry_run: with --dry-run, what `rules` refuses is delivered and logged as "would reject".

Exit status 0 when all pass, 1 when one fails, 77 (skip) without Postfix or root.
"""

import argparse
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import postfix_e2e as e2e  # noqa: E402

DOMAIN = e2e.DOMAIN             # delivered into the test maildir
HELO = "client.e2e.invalid"     # the name e2e.Context.connect() says in EHLO


def message(test_id, from_headers, subject="align"):
    """A message with CRLF line ends and the given From header values (none, one, several)."""
    headers = [f"From: {f}" for f in from_headers]
    headers += [f"To: <rcpt@{DOMAIN}>", f"Subject: {subject}", f"Message-ID: <{test_id}@e2e.invalid>",
                f"X-Test-Id: {test_id}"]
    return ("\r\n".join(headers) + "\r\n\r\nbody\r\n").encode()


def unaligned_text(from_domain, other_name, other):
    return (f"From header domain {from_domain} does not align with {other_name} {other} (relaxed): "
            f"the {other_name} must be {from_domain} or a subdomain of it")


def refused_at_data(s, test_id, sender, data, text):
    """Sends one message that align must refuse at the end of DATA with `550 5.7.1 text`."""
    try:
        s.sendmail(sender, [f"rcpt@{DOMAIN}"], data)
    except smtplib.SMTPDataError as e:
        got = (e.smtp_code, e.smtp_error.decode(errors="replace"))
        e2e.expect(got == (550, f"5.7.1 {text}"), f"{test_id}: end of DATA answered {got}, expected 550 '5.7.1 {text}'")
        return
    raise e2e.Failure(f"{test_id}: the message was accepted, expected 550 5.7.1 {text}")


def milter_log(ctx):
    return (ctx.postfix.tmp / "milter.log").read_text(errors="replace")


def check_rejection_logged(ctx, test_id, rule, sender, text, dry_run=False):
    """Postfix logged the milter's reject (unless dry run) and align logged one info line with
    the same queue id (macro i), the rule and the envelope sender."""
    verb = "dry run, would reject" if dry_run else "rejected"
    pattern = (rf"align: {verb} queue_id=(\w+) rule={rule} mode=relaxed sender={re.escape(sender)}: "
               rf"{re.escape(text)}$")
    lines = [m for m in re.finditer(pattern, milter_log(ctx), re.M)]
    e2e.expect(len(lines) == 1, f"{test_id}: {len(lines)} milter log lines match {pattern!r}, expected 1")
    queue_id = lines[0].group(1)
    if not dry_run:
        e2e.expect(re.search(rf"\b{queue_id}: milter-reject: END-OF-MESSAGE from \S+: 5\.7\.1 {re.escape(text)};",
                             ctx.postfix.log()),
                   f"{test_id}: Postfix logged no milter-reject for {queue_id} with align's text")
    return queue_id


class Aligned:
    name = "aligned"
    what = "From alice@example.org, MAIL FROM:<bounces@mail.example.org>: delivered"

    def send(self, ctx):
        tid = ctx.tid(self.name)
        with ctx.connect() as s:
            self.qid = ctx.send(s, tid, [f"aligned@{DOMAIN}"], message(tid, ['"Alice" <alice@example.org>']),
                                sender="bounces@mail.example.org")
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        msg = e2e.delivered_to(ctx, tid, [f"aligned@{DOMAIN}"])[f"aligned@{DOMAIN}"]
        e2e.expect(msg.get_all("From") == ['"Alice" <alice@example.org>'], f"{tid}: From {msg.get_all('From')}")
        return f"delivered ({self.qid})"


class Refused:
    """A message align refuses at the end of DATA, then an aligned one on the same connection."""

    def __init__(self, name, what, from_headers, sender, rule, text):
        self.name, self.what = name, what
        self.from_headers, self.sender, self.rule, self.text = from_headers, sender, rule, text

    def send(self, ctx):
        tid = ctx.tid(self.name)
        with ctx.connect() as s:
            refused_at_data(s, tid, self.sender, message(tid, self.from_headers), self.text)
            self.next_tid = ctx.tid(self.name + "-next")
            self.next_qid = ctx.send(s, self.next_tid, [f"next@{DOMAIN}"],
                                     message(self.next_tid, ["<alice@example.org>"]), sender="alice@example.org")
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        e2e.delivered_to(ctx, tid, [])
        queue_id = check_rejection_logged(ctx, tid, self.rule, f"<{self.sender}>", self.text)
        e2e.delivered_to(ctx, self.next_tid, [f"next@{DOMAIN}"])
        return f"550 5.7.1 {self.text} ({queue_id}); the next message on the connection delivered ({self.next_qid})"


class Bounce:
    name = "null_sender"
    what = f"MAIL FROM:<> is aligned with the HELO name {HELO}: MAILER-DAEMON@e2e.invalid passes, example.org not"

    def send(self, ctx):
        tid = ctx.tid(self.name)
        self.refused_text = unaligned_text("example.org", "HELO name", HELO)
        with ctx.connect() as s:
            refused_at_data(s, tid + "-refused", "", message(tid + "-refused", ["postmaster@example.org"]),
                            self.refused_text)
            self.qid = ctx.send(s, tid, [f"bounce@{DOMAIN}"], message(tid, ["MAILER-DAEMON@e2e.invalid"]), sender="")
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        msg = e2e.delivered_to(ctx, tid, [f"bounce@{DOMAIN}"])[f"bounce@{DOMAIN}"]
        e2e.expect(msg["Return-Path"] == "<>", f"{tid}: Return-Path {msg['Return-Path']}, expected <>")
        queue_id = check_rejection_logged(ctx, tid, "unaligned", "<>", self.refused_text)
        return f"aligned bounce delivered ({self.qid}); unaligned one refused ({queue_id})"


class PostfixAddsFrom:
    name = "postfix_adds_from"
    what = "a client on 127.0.0.1 is local: Postfix adds From: <envelope sender>, which aligns"

    def send(self, ctx):
        tid = ctx.tid(self.name)
        with ctx.connect() as s:
            self.qid = ctx.send(s, tid, [f"local@{DOMAIN}"], message(tid, []), sender="alice@example.org")
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        msg = e2e.delivered_to(ctx, tid, [f"local@{DOMAIN}"])[f"local@{DOMAIN}"]
        e2e.expect(msg.get_all("From") == ["alice@example.org"], f"{tid}: From {msg.get_all('From')}, "
                   "expected the one Postfix adds, alice@example.org")
        return f"delivered with Postfix's From: alice@example.org ({self.qid})"


class DryRun:
    """What `rules` refuses, delivered and logged as "would reject"."""

    def __init__(self, name, from_headers, sender, rule, text):
        self.name, self.what = name, f"--dry-run: {rule} delivered, logged"
        self.from_headers, self.sender, self.rule, self.text = from_headers, sender, rule, text

    def send(self, ctx):
        tid = ctx.tid(self.name)
        with ctx.connect() as s:
            self.qid = ctx.send(s, tid, [f"dry@{DOMAIN}"], message(tid, self.from_headers), sender=self.sender)
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        e2e.delivered_to(ctx, tid, [f"dry@{DOMAIN}"])
        queue_id = check_rejection_logged(ctx, tid, self.rule, f"<{self.sender}>", self.text, dry_run=True)
        e2e.expect(queue_id == self.qid, f"{tid}: the milter logged queue id {queue_id}, Postfix queued {self.qid}")
        e2e.expect(not re.search(rf"\b{self.qid}: milter-reject", ctx.postfix.log()), f"{tid}: Postfix logged a reject")
        return f"delivered, logged as would reject ({self.qid})"


UNALIGNED = unaligned_text("example.org", "envelope sender domain", "example.net")
NO_FROM = "message has no From header: it needs exactly one, with one address"
TWO_FROM = "message has 2 From headers: exactly one is allowed"
NO_ADDED_FROM = "local_header_rewrite_clients ="   # Postfix adds no From, whoever the client is
ADDED_FROM = "local_header_rewrite_clients = permit_inet_interfaces"   # Postfix's default


def suites():
    return {
        "rules": ([NO_ADDED_FROM], [], [
            Aligned(),
            Refused("unaligned", "From example.org, MAIL FROM example.net: 550 at end of DATA",
                    ["Alice <alice@example.org>"], "bounces@example.net", "unaligned", UNALIGNED),
            Refused("no_from", "no From header: 550 at end of DATA", [], "alice@example.org", "no_from", NO_FROM),
            Refused("two_from", "two From headers: 550 at end of DATA",
                    ["alice@example.org", "alice@example.org"], "alice@example.org", "several_from", TWO_FROM),
            Bounce(),
        ]),
        "local_client": ([ADDED_FROM], [], [PostfixAddsFrom()]),
        "dry_run": ([NO_ADDED_FROM], ["--dry-run"], [
            DryRun("dry_unaligned", ["alice@example.org"], "bounces@example.net", "unaligned", UNALIGNED),
            DryRun("dry_no_from", [], "alice@example.org", "no_from", NO_FROM),
        ]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("align", help="path of the align binary")
    ap.add_argument("--suite", choices=("rules", "local_client", "dry_run", "all"), default="all")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories (printed)")
    args = ap.parse_args()
    status = 0
    for name, (postfix_settings, milter_args, scenarios) in suites().items():
        if args.suite not in ("all", name):
            continue
        print(f"postfix_align: suite {name}")
        result = e2e.run_suite(args.align, "unix", scenarios, keep=args.keep, milter_args=milter_args,
                               postfix_settings=postfix_settings)
        if result == e2e.SKIP:
            return result
        status = status or result
    return status


if __name__ == "__main__":
    sys.exit(main())
