#!/usr/bin/python3
"""End-to-end test of the ratelimit example milter (examples/ratelimit.hpp) against a real
Postfix and a real Redis.

    postfix_ratelimit.py PATH/TO/ratelimit PATH/TO/redis-server [--keep]

Starts a private redis-server (127.0.0.1, a free port, no persistence, stopped by PID), then
ratelimit (--limit 3/1h, one thread so that one Redis connection sees every message) on a
UNIX socket and a private Postfix (tests/interop/postfix_e2e.py's run_suite):

* limit: three messages from one sender are delivered; the fourth MAIL FROM gets
  `451 4.7.1 too many messages ...; try again in ...` (the retry hint), Postfix logs the
  milter-reject, and another sender is not affected.
* redis_down: Redis stopped: messages are accepted (--on-error accept) and the milter logs one
  line for the outage, not one per message.
* redis_back: Redis restarted: the milter logs once that it answers again, and the limit
  applies again (the fourth message of a new sender gets 451).

Exit status 0 when all pass, 1 when one fails, 77 (skip) without Postfix or root.
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import postfix_e2e as e2e  # noqa: E402

DOMAIN = e2e.DOMAIN
LIMIT = 3
HINT = r"try again in (\d+[dhms])+"


class Redis:
    def __init__(self, exe):
        self.exe = exe
        self.dir = Path(tempfile.mkdtemp(prefix="cppmilter-redis-", dir="/tmp"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = None

    def start(self):
        log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen([self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.dir)],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def ready():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False
        e2e.wait_until("redis-server to answer", ready)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(e2e.WAIT)
        self.proc = None


REDIS = None


def milter_log(ctx):
    return (ctx.postfix.tmp / "milter.log").read_text(errors="replace")


def mail_from(s, sender):
    code, text = s.mail(f"<{sender}>")
    return code, text.decode(errors="replace")


def send_accepted(ctx, s, test_id, sender, n):
    """n messages from sender, each accepted; returns their test ids (test_id.0, .1, ...)."""
    ids = []
    for i in range(n):
        tid = f"{test_id}.{i}"
        ctx.send(s, tid, [f"rcpt@{DOMAIN}"], e2e.message(tid, [tid], rcpts=[f"rcpt@{DOMAIN}"]), sender=sender)
        ids.append(tid)
    return ids


def expect_delivered(ctx, ids):
    for tid in ids:
        e2e.delivered_to(ctx, tid, [f"rcpt@{DOMAIN}"])


def expect_limited(s, test_id, sender):
    code, text = mail_from(s, sender)
    want = rf"4\.7\.1 too many messages from sender {re.escape(sender)}: limit {LIMIT} per 1h; {HINT}"
    e2e.expect(code == 451 and re.fullmatch(want, text),
               f"{test_id}: MAIL FROM:<{sender}> answered {code} {text!r}, expected 451 {want}")
    s.rset()
    return text


class Limit:
    name = "limit"
    what = f"{LIMIT} messages from one sender are delivered, the next MAIL FROM gets 451 4.7.1 with the retry hint"

    def send(self, ctx):
        tid = ctx.tid(self.name)
        self.sender = f"limited-{ctx.run_id}@example.org"
        with ctx.connect() as s:
            self.qids = send_accepted(ctx, s, tid, self.sender, LIMIT)
            self.text = expect_limited(s, tid, self.sender)
            self.other = send_accepted(ctx, s, tid + ".other", f"other-{ctx.run_id}@example.org", 1)
            s.quit()

    def check(self, ctx):
        expect_delivered(ctx, self.qids + self.other)
        e2e.expect(re.search(rf"milter-reject: MAIL from \S+: 451 4\.7\.1 too many messages from sender "
                             rf"{re.escape(self.sender)}: .*; from=<{re.escape(self.sender)}>", ctx.postfix.log()),
                   "Postfix's log has no milter-reject line for the fourth MAIL FROM")
        return f"{LIMIT} delivered, then 451 {self.text}"


class RedisDown:
    name = "redis_down"
    what = "Redis stopped: messages are accepted uncounted, one log line for the outage"

    def send(self, ctx):
        tid = ctx.tid(self.name)
        REDIS.stop()
        with ctx.connect() as s:
            self.qids = send_accepted(ctx, s, tid, f"down-{ctx.run_id}@example.org", LIMIT + 2)
            s.quit()

    def check(self, ctx):
        expect_delivered(ctx, self.qids)
        lines = re.findall(r"^.*redis \S+ unavailable \(.*$", milter_log(ctx), re.M)
        e2e.expect(len(lines) == 1, f"{len(lines)} outage lines in the milter's log, expected 1: {lines}")
        e2e.expect("accepting messages uncounted (--on-error accept)" in lines[0], lines[0])
        return f"{len(self.qids)} messages accepted while down; logged once: {lines[0].split(': ', 2)[-1]}"


class RedisBack:
    name = "redis_back"
    what = "Redis restarted: logged once, and the limit applies again"

    def send(self, ctx):
        tid = ctx.tid(self.name)
        REDIS.start()
        # The milter retries after its backoff (at most 2 s): until then mail goes on uncounted.
        deadline = time.monotonic() + e2e.WAIT
        i = 0
        while "answers again: counting resumes" not in milter_log(ctx):
            if time.monotonic() > deadline:
                raise e2e.Failure("the milter never logged that Redis answers again")
            with ctx.connect() as s:
                send_accepted(ctx, s, f"{tid}.warmup{i}", f"warmup{i}-{ctx.run_id}@example.org", 1)
                s.quit()
            i += 1
            time.sleep(0.3)
        self.sender = f"back-{ctx.run_id}@example.org"
        with ctx.connect() as s:
            self.ids = send_accepted(ctx, s, tid, self.sender, LIMIT)
            self.text = expect_limited(s, tid, self.sender)
            s.quit()

    def check(self, ctx):
        expect_delivered(ctx, self.ids)
        log = milter_log(ctx)
        e2e.expect(log.count("answers again: counting resumes") == 1, f"'answers again' logged {log.count('answers again: counting resumes')} times")
        e2e.expect(len(re.findall(r"redis \S+ unavailable \(", log)) == 1, "more than one outage line")
        return f"logged once that Redis is back; then 451 {self.text}"


def log_clean(milter, transport):
    """Only the outage's two lines are warnings; the milter exits with 0 after SIGTERM."""
    bad = [line for line in milter.log().splitlines()
           if re.search(r": (warning|error):", line) and not re.search(r"ratelimit: redis \S+ (unavailable|answers again)", line)
           and not (transport == "unix" and "world-writable" in line)]
    e2e.expect(not bad, "the milter logged:\n  " + "\n  ".join(bad))
    e2e.expect(milter.returncode == 0, f"the milter exited with {milter.returncode} after SIGTERM")


def main():
    global REDIS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ratelimit")
    parser.add_argument("redis_server")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not os.access(args.redis_server, os.X_OK):
        print(f"SKIP: {args.redis_server} is not an executable (apt-get install redis-server)")
        return e2e.SKIP
    REDIS = Redis(args.redis_server)
    REDIS.start()
    try:
        milter_args = ["--threads", "1", "--limit", f"{LIMIT}/1h", "--redis", f"127.0.0.1:{REDIS.port}"]
        return e2e.run_suite(args.ratelimit, "unix", [Limit(), RedisDown(), RedisBack()], keep=args.keep,
                             milter_args=milter_args, log_clean=log_clean)
    finally:
        REDIS.stop()
        subprocess.run(["rm", "-rf", str(REDIS.dir)], check=False)


if __name__ == "__main__":
    sys.exit(main())
