#!/usr/bin/env python3
"""End-to-end test of the showcase milter against a real Postfix.

    postfix_e2e.py PATH/TO/showcase --transport tcp|unix [--keep]

Starts showcase, then a private Postfix instance in a temporary directory (its own config,
queue, data and log; smtpd on a free loopback port; the milter as `smtpd_milters`), speaks
SMTP to it and checks every behaviour of examples/showcase.hpp from the SMTP replies, the
delivered maildir files, the hold queue and Postfix's log. One line per scenario, exit
status 0 when all pass, 1 when one fails, 77 (skip) when Postfix is not installed or we are
not root. Python standard library only. See README.md.
"""

import argparse
import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser
from pathlib import Path

SKIP = 77
WAIT = 30             # every single wait is bounded by this many seconds
BUDGET = 240          # whole run; a watchdog alarm stops everything (and cleans up) after this
SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/bin")

SENDER = "sender@example.org"
DOMAIN = "example.test"


class Failure(Exception):
    """A check or a setup step failed; the text says what was expected and what was seen."""


class Watchdog(BaseException):
    """SIGALRM / SIGTERM / SIGINT: unwind through the finally blocks, which stop everything."""


def tool(name):
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN]))


def run(cmd, timeout=WAIT, check=True):
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise Failure(f"{' '.join(map(str, cmd))} exited with {r.returncode}: {(r.stdout + r.stderr).strip()}")
    return r


def wait_until(what, predicate, timeout=WAIT, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=40):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"({e})"


def pid_alive(pid):
    """True while pid exists and is not a zombie (our daemons' parent is PID 1, which may be
    slow to reap them)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:][:1] != "Z"


# ------------------------------------------------------------------------------------------
# The milter under test


class Milter:
    def __init__(self, exe, transport, tmp, extra_args=()):
        self.log_path = tmp / "milter.log"
        if transport == "tcp":
            args = ["--listen", "inet:127.0.0.1:0"]
        else:
            sock_dir = tmp / "milter"
            sock_dir.mkdir(mode=0o755)
            self.socket_path = sock_dir / "showcase.sock"
            # smtpd runs as user postfix: it must be able to connect.
            args = ["--listen", f"unix:{self.socket_path}", "--socket-mode", "0666"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([exe, *args, "--log-level", "info", *extra_args], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)

        def listening():
            if self.proc.poll() is not None:
                raise Failure(f"showcase exited with {self.proc.returncode}: {tail(self.log_path)}")
            return re.search(r"listening on (\S+)", self.log_path.read_text(errors="replace"))

        where = wait_until("showcase to listen", listening).group(1)
        if transport == "tcp":
            m = re.fullmatch(r"inet:127\.0\.0\.1:(\d+)", where)
            if not m:
                raise Failure(f"showcase listens on {where!r}, expected inet:127.0.0.1:PORT")
            self.spec = f"inet:127.0.0.1:{m.group(1)}"
        else:
            if where != f"unix:{self.socket_path}":
                raise Failure(f"showcase listens on {where!r}, expected unix:{self.socket_path}")
            self.spec = f"unix:{self.socket_path}"   # absolute: smtpd is not chrooted
        self.returncode = None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT)
        self.returncode = self.proc.returncode

    def log(self):
        return self.log_path.read_text(errors="replace")


# ------------------------------------------------------------------------------------------
# The private Postfix instance


class Postfix:
    def __init__(self, tmp, milter_spec, settings=()):
        self.tmp = tmp
        self.conf = tmp / "config"
        self.queue = tmp / "queue"
        self.vmail = tmp / "vmail"
        self.maillog = tmp / "maillog"
        self.bin = {name: tool(name) for name in ("postfix", "postconf", "postqueue", "postcat")}
        self.started = False

        self.conf.mkdir(mode=0o755)
        self.queue.mkdir(mode=0o755)       # root-owned; `postfix start` creates its subdirectories
        self.vmail.mkdir(mode=0o755)
        nobody = pwd.getpwnam("nobody")
        os.chown(self.vmail, nobody.pw_uid, nobody.pw_gid)
        main_cf = Path("/etc/postfix/main.cf")
        if main_cf.exists():
            shutil.copy(main_cf, self.conf / "main.cf")
        else:
            (self.conf / "main.cf").write_text("")
        master_cf = next((p for p in (Path("/etc/postfix/master.cf"), Path("/usr/share/postfix/master.cf.dist"))
                          if p.exists()), None)
        if master_cf is None:
            raise Failure("no master.cf to start from (/etc/postfix/master.cf)")
        shutil.copy(master_cf, self.conf / "master.cf")

        self.port = free_port()
        self.postconf_e(
            f"queue_directory = {self.queue}",
            f"data_directory = {tmp / 'data'}",
            f"maillog_file_prefixes = {tmp}",
            f"maillog_file = {self.maillog}",
            "syslog_name = postfix-e2e",
            "compatibility_level = 3.6",
            "mail_owner = postfix",
            "inet_interfaces = loopback-only",
            "inet_protocols = ipv4",
            "myhostname = mx.e2e.invalid",
            "myorigin = $myhostname",
            "mydestination = localhost",
            "mynetworks = 127.0.0.0/8",
            "relayhost =",
            # Delivery: every address @example.test into one maildir, as user nobody. virtual(8)
            # needs no system accounts, aliases or home directories, and adds Delivered-To and
            # X-Original-To, which tell the copies of one message apart.
            f"virtual_mailbox_domains = {DOMAIN}",
            f"virtual_mailbox_base = {self.vmail}",
            "virtual_mailbox_maps = static:mailbox/",
            f"virtual_uid_maps = static:{nobody.pw_uid}",
            f"virtual_gid_maps = static:{nobody.pw_gid}",
            "virtual_alias_maps =",
            "enable_original_recipient = yes",
            "alias_maps =",
            "alias_database =",
            # Nothing else that rewrites, filters or restricts (the host's main.cf may have some).
            "canonical_maps =", "sender_canonical_maps =", "recipient_canonical_maps =",
            "always_bcc =", "sender_bcc_maps =", "recipient_bcc_maps =", "transport_maps =",
            "header_checks =", "body_checks =", "milter_header_checks =", "content_filter =",
            "smtpd_client_restrictions =", "smtpd_helo_restrictions =", "smtpd_sender_restrictions =",
            "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
            "smtpd_recipient_restrictions =", "smtpd_data_restrictions =",
            "smtpd_end_of_data_restrictions =", "smtpd_tls_security_level = none",
            "smtp_tls_security_level = none", "smtpd_sasl_auth_enable = no", "soft_bounce = no",
            "smtpd_peername_lookup = no",   # no DNS: the client is "unknown[127.0.0.1]"
            # The milter.
            f"smtpd_milters = {milter_spec}",
            "non_smtpd_milters =",
            "smtpd_milter_maps =",
            "milter_protocol = 6",
            "milter_default_action = reject",   # a broken milter fails loudly
            "milter_connect_timeout = 10s",
            "milter_command_timeout = 10s",
            "milter_content_timeout = 20s",
            *settings,   # a suite's own main.cf lines (e.g. milter_macro_* for its macros)
        )
        # master.cf: no chroot (the milter socket path is absolute; nothing under the queue
        # directory to copy), no inet service of the host's (smtp on port 25 and friends), one
        # smtpd on our port.
        listing = self.postconf_cmd("-M").stdout
        for line in listing.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[1] == "inet":
                self.postconf_cmd("-MX", f"{fields[0]}/inet")
        self.postconf_cmd("-M", f"127.0.0.1:{self.port}/inet = 127.0.0.1:{self.port} inet n - n - - smtpd")
        self.postconf_cmd("-F", "*/*/chroot = n")

    def postconf_cmd(self, *args):
        return run([self.bin["postconf"], "-c", self.conf, *args])

    def postconf_e(self, *settings):
        self.postconf_cmd("-e", *settings)

    def start(self):
        run([self.bin["postfix"], "-c", self.conf, "check"])
        self.started = True
        run([self.bin["postfix"], "-c", self.conf, "start"])

        def banner():
            # Ready once smtpd greets: the scenarios then report whatever it answers (with a
            # broken milter, milter_default_action = reject makes every MAIL fail).
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    greeting = s.makefile("rb").readline()
                    s.sendall(b"QUIT\r\n")
                return re.match(rb"\d{3}[ -]", greeting) is not None
            except OSError:
                return False

        wait_until(f"Postfix's SMTP greeting on 127.0.0.1:{self.port}", banner, interval=0.2)

    def master_pid(self):
        try:
            pid = int((self.queue / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:   # the pid file stays after a stop: make sure the pid is still our master
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if b"master" in cmdline else None

    def stop(self):
        if not self.started:
            return
        pid = self.master_pid()
        try:
            run([self.bin["postfix"], "-c", self.conf, "stop"], check=False)
        except subprocess.TimeoutExpired:
            pass
        if pid is not None:
            try:
                wait_until("Postfix's master to exit", lambda: not pid_alive(pid), timeout=10)
            except Failure:
                print(f"postfix -c {self.conf} stop left master {pid} running: SIGKILL", file=sys.stderr)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # The daemons exit when the master is gone; give them a moment before the rmtree.
        time.sleep(0.2)

    def log(self):
        try:
            return self.maillog.read_text(errors="replace")
        except OSError:
            return ""

    def hold_queue(self):
        return run([self.bin["postqueue"], "-c", self.conf, "-p"]).stdout

    def postcat(self, queue_id):
        return run([self.bin["postcat"], "-c", self.conf, "-q", queue_id]).stdout

    def deliveries(self):
        """Every delivered copy: (X-Test-Id, Delivered-To, parsed message, raw bytes)."""
        out = []
        for sub in ("new", "cur"):
            d = self.vmail / "mailbox" / sub
            if d.is_dir():
                for f in sorted(d.iterdir()):
                    raw = f.read_bytes()
                    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
                    out.append((msg["X-Test-Id"], msg["Delivered-To"], msg, raw))
        return out


# ------------------------------------------------------------------------------------------
# Scenarios: each sends in send() (recording queue ids to wait for) and checks in check().


def message(test_id, subject_lines, body="original body\r\n", extra=(), rcpts=()):
    """An RFC 5322 message with CRLF line ends; subject_lines is a list of Subject headers,
    each already folded as wanted."""
    headers = [f"From: <{SENDER}>", f"To: {', '.join(f'<{r}>' for r in rcpts) or 'undisclosed-recipients:;'}"]
    headers += [f"Subject: {s}" for s in subject_lines]
    headers += [f"Message-ID: <{test_id}@e2e.invalid>", f"X-Test-Id: {test_id}", *extra]
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


class Context:
    def __init__(self, postfix, run_id):
        self.postfix = postfix
        self.run_id = run_id
        self.queue_ids = {}         # queue id -> test id
        self._deliveries = None

    def tid(self, name):
        return f"{name}.{self.run_id}"

    def connect(self):
        s = smtplib.SMTP("127.0.0.1", self.postfix.port, local_hostname="client.e2e.invalid", timeout=WAIT)
        code, text = s.ehlo()
        if code != 250:
            s.close()
            raise Failure(f"EHLO answered {code} {text!r}")
        return s

    def send(self, s, test_id, rcpts, data, sender=SENDER, expect_rcpt=None):
        """One transaction: MAIL, RCPTs, DATA. Every RCPT must get 250 unless expect_rcpt maps
        it to another expected reply. Returns the queue id."""
        code, text = s.mail(f"<{sender}>")
        if code != 250:
            raise Failure(f"{test_id}: MAIL FROM:<{sender}> answered {code} {text.decode()}")
        for r in rcpts:
            code, text = s.rcpt(f"<{r}>")
            want = (expect_rcpt or {}).get(r, (250, None))
            got = f"{code} {text.decode()}"
            if code != want[0] or (want[1] is not None and text.decode() != want[1]):
                raise Failure(f"{test_id}: RCPT TO:<{r}> answered {got!r}, expected {want}")
        code, text = s.data(data)
        m = re.match(r"2\.0\.0 Ok: queued as (\w+)", text.decode())
        if code != 250 or not m:
            raise Failure(f"{test_id}: end of DATA answered {code} {text.decode()!r}, expected 250 queued")
        self.queue_ids[m.group(1)] = test_id
        return m.group(1)

    def settle(self):
        """Waits until Postfix is done with every queued message: delivered (qmgr: removed),
        held or discarded by the milter."""
        def done():
            log = self.postfix.log()
            return all(re.search(rf"\b{q}: (removed|milter-hold|milter-discard)\b", log) for q in self.queue_ids)
        wait_until("Postfix to deliver, hold or discard every message", done)

    def delivered(self, test_id):
        """{recipient: (message, raw)} of the copies of test_id that were delivered."""
        if self._deliveries is None:
            self._deliveries = self.postfix.deliveries()
        out = {}
        for tid, rcpt, msg, raw in self._deliveries:
            if tid == test_id:
                if rcpt in out:
                    raise Failure(f"{test_id}: delivered twice to {rcpt}")
                out[rcpt] = (msg, raw)
        return out


def expect(cond, text):
    if not cond:
        raise Failure(text)


def delivered_to(ctx, test_id, rcpts):
    got = ctx.delivered(test_id)
    expect(sorted(got) == sorted(rcpts), f"{test_id}: delivered to {sorted(got)}, expected {sorted(rcpts)}")
    return {r: m for r, (m, _) in got.items()}


def body_of(msg):
    return msg.get_payload(decode=False)


def headers_of(msg):
    return [(k, v) for k, v in msg.items()]


def check_untouched(test_id, msg, subject, body="original body\n"):
    """The milter's only change is X-Scenario: seen, appended as the last header."""
    expect(msg.get_all("X-Scenario") == ["seen"],
           f"{test_id}: X-Scenario headers {msg.get_all('X-Scenario')}, expected exactly one 'seen'")
    expect(headers_of(msg)[-1] == ("X-Scenario", "seen"),
           f"{test_id}: last header is {headers_of(msg)[-1]}, expected X-Scenario: seen (appended)")
    expect(msg.get_all("Subject") == [subject], f"{test_id}: Subject {msg.get_all('Subject')}, expected [{subject!r}]")
    expect(body_of(msg) == body, f"{test_id}: body {body_of(msg)!r}, expected {body!r}")
    expect(msg["Return-Path"] == f"<{SENDER}>", f"{test_id}: Return-Path {msg['Return-Path']}, expected <{SENDER}>")
    expect(msg.get("X-First") is None, f"{test_id}: unexpected X-First: {msg.get('X-First')}")
    changes = msg.get_all("X-Change")
    expect(changes in (None, ["one", "two"]), f"{test_id}: X-Change headers {changes}, expected untouched")


class BlockedSender:
    name = "blocked_sender"
    what = "MAIL FROM <...@BLOCKED.Example> gets 550 5.7.1; a near miss and the next transaction pass"

    def send(self, ctx):
        with ctx.connect() as s:
            code, text = s.mail("<Mallory@BLOCKED.Example>")
            expect((code, text.decode()) == (550, "5.7.1 sender blocked"),
                   f"MAIL FROM:<Mallory@BLOCKED.Example> answered {code} {text.decode()!r}, "
                   "expected 550 '5.7.1 sender blocked'")
            code, text = s.mail("<alice@notblocked.example>")
            expect(code == 250, f"MAIL FROM:<alice@notblocked.example> answered {code} {text.decode()!r}, expected 250")
            s.rset()
            self.qid = ctx.send(s, ctx.tid(self.name), [f"after-block@{DOMAIN}"],
                                message(ctx.tid(self.name), ["after a blocked sender"]))
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        log = ctx.postfix.log()
        expect(re.search(r"milter-reject: MAIL from \S+: 550 5\.7\.1 sender blocked; from=<Mallory@BLOCKED\.Example>", log),
               "Postfix's log has no milter-reject line for MAIL from <Mallory@BLOCKED.Example>")
        msg = delivered_to(ctx, tid, [f"after-block@{DOMAIN}"])[f"after-block@{DOMAIN}"]
        check_untouched(tid, msg, "after a blocked sender")
        return f"550 5.7.1 sender blocked; next transaction delivered ({self.qid})"


class TempfailRecipient:
    name = "tempfail_rcpt"
    what = "RCPT <TempFail@...> gets 451 4.7.1, the other recipient is accepted and delivered"

    def send(self, ctx):
        tid = ctx.tid(self.name)
        rcpts = [f"TempFail@{DOMAIN}", f"accepted@{DOMAIN}"]
        with ctx.connect() as s:
            self.qid = ctx.send(s, tid, rcpts, message(tid, ["tempfail one recipient"], rcpts=rcpts),
                                expect_rcpt={rcpts[0]: (451, "4.7.1 try later")})
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        expect(re.search(rf"milter-reject: RCPT from \S+: 451 4\.7\.1 try later; .*to=<TempFail@{DOMAIN}>",
                         ctx.postfix.log()),
               "Postfix's log has no milter-reject line for RCPT <TempFail@...>")
        msg = delivered_to(ctx, tid, [f"accepted@{DOMAIN}"])[f"accepted@{DOMAIN}"]
        check_untouched(tid, msg, "tempfail one recipient")
        return f"451 4.7.1 try later for TempFail@, accepted@ delivered ({self.qid})"


class Plain:
    name = "plain"
    what = "a message without keywords: only X-Scenario: seen is added, at the end"

    def send(self, ctx):
        tid = ctx.tid(self.name)
        with ctx.connect() as s:
            self.qid = ctx.send(s, tid, [f"plain@{DOMAIN}"],
                                message(tid, ["nothing special"], extra=["X-Change: one", "X-Change: two"]))
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        msg = delivered_to(ctx, tid, [f"plain@{DOMAIN}"])[f"plain@{DOMAIN}"]
        check_untouched(tid, msg, "nothing special")
        return f"X-Scenario: seen appended, nothing else changed ({self.qid})"


class Keyword:
    """One message whose Subject holds one keyword, to <kw-KEYWORD@example.test> and, for
    DELRCPT, also <gone@example.test>."""

    def __init__(self, keyword):
        self.keyword = keyword
        self.name = f"keyword_{keyword.lower()}"
        self.what = f"Subject containing {keyword}"
        self.rcpt = f"kw-{keyword.lower()}@{DOMAIN}"

    def rcpts(self):
        return [self.rcpt, f"gone@{DOMAIN}"] if self.keyword == "DELRCPT" else [self.rcpt]

    def send(self, ctx):
        tid = ctx.tid(self.name)
        with ctx.connect() as s:
            self.qid = ctx.send(s, tid, self.rcpts(),
                                message(tid, [f"please {self.keyword} this"], rcpts=self.rcpts(),
                                        extra=["X-Change: one", "X-Change: two"]))
            s.quit()

    def check(self, ctx):
        return check_keyword(ctx, self.keyword, ctx.tid(self.name), self.qid, self.rcpt,
                             f"please {self.keyword} this")


def check_keyword(ctx, keyword, tid, qid, rcpt, subject):
    """Checks the effect of one keyword on message tid (queue id qid) sent to rcpt
    (and gone@ for DELRCPT)."""
    log = ctx.postfix.log()
    if keyword in ("QUARANTINE", "DISCARD"):
        delivered_to(ctx, tid, [])
        action = "HOLD" if keyword == "QUARANTINE" else "DISCARD"
        expect(re.search(rf"\b{qid}: milter-{action.lower()}: END-OF-MESSAGE from \S+: milter triggers {action} action",
                         log), f"{tid}: Postfix's log has no milter-{action.lower()} line for {qid}")
        queue = ctx.postfix.hold_queue()
        if keyword == "DISCARD":
            expect(qid not in queue, f"{tid}: discarded {qid} is in the queue:\n{queue}")
            return f"250 at SMTP, discarded by Postfix, never delivered ({qid})"
        expect(re.search(rf"^{qid}!\s", queue, re.M), f"{tid}: {qid} is not on hold ('!') in postqueue -p:\n{queue}")
        content = ctx.postfix.postcat(qid)
        expect(f"*** ENVELOPE RECORDS hold/{qid} ***" in content, f"{tid}: postcat does not show {qid} in hold/")
        expect(re.search(r"^X-Scenario: seen$", content, re.M), f"{tid}: held message lacks X-Scenario: seen")
        return f"held: postqueue shows {qid}!, postcat shows hold/{qid} with X-Scenario: seen"

    if keyword == "ADDRCPT":
        msgs = delivered_to(ctx, tid, [rcpt, f"added@{DOMAIN}"])
        for m in msgs.values():
            check_untouched(tid, m, subject)
        expect(re.search(rf"\b{qid}: to=<added@{DOMAIN}>, .*status=sent", log), f"{tid}: no delivery to added@ logged")
        return f"delivered to {rcpt} and added@{DOMAIN} ({qid})"
    if keyword == "DELRCPT":
        msg = delivered_to(ctx, tid, [rcpt])[rcpt]
        check_untouched(tid, msg, subject)
        expect(not re.search(rf"\b{qid}: to=<gone@{DOMAIN}>", log), f"{tid}: Postfix logged a delivery to gone@")
        # Not qmgr's nrcpt: it still counts the deleted recipient (cleanup marks it done).
        tried = re.findall(rf"\b{qid}: to=<([^>]*)>", log)
        expect(tried == [rcpt], f"{tid}: Postfix tried recipients {tried}, expected only {rcpt}")
        return f"gone@ removed, only {rcpt} delivered ({qid})"

    msg = delivered_to(ctx, tid, [rcpt])[rcpt]
    expect(msg.get_all("X-Scenario") == ["seen"], f"{tid}: X-Scenario headers {msg.get_all('X-Scenario')}")
    if keyword == "REPLACEBODY":
        expect(body_of(msg) == "body replaced\n", f"{tid}: body {body_of(msg)!r}, expected 'body replaced\\n'")
        return f"body is 'body replaced' ({qid})"
    if keyword == "CHGFROM":
        expect(msg["Return-Path"] == f"<new@{DOMAIN}>", f"{tid}: Return-Path {msg['Return-Path']}, expected <new@{DOMAIN}>")
        expect(re.search(rf"\b{qid}: from=<new@{DOMAIN}>", log), f"{tid}: qmgr did not log from=<new@{DOMAIN}>")
        return f"envelope sender <new@{DOMAIN}> (Return-Path, qmgr from=) ({qid})"
    if keyword == "CHGHDR":
        expect(msg.get_all("X-Change") == ["changed", "two"],
               f"{tid}: X-Change headers {msg.get_all('X-Change')}, expected ['changed', 'two']")
        names = [k for k, _ in headers_of(msg)]
        expect(names.index("X-Change") > names.index("Subject"), f"{tid}: X-Change moved: {names}")
        return f"first X-Change is 'changed', second untouched ({qid})"
    if keyword == "INSHDR":
        names = [k for k, _ in headers_of(msg)]
        # virtual(8) prepends Return-Path, X-Original-To, Delivered-To at delivery; index 0 puts
        # the header above Postfix's own Received: (PROTOCOL.md §7.6).
        expect(names[:5] == ["Return-Path", "X-Original-To", "Delivered-To", "X-First", "Received"],
               f"{tid}: headers start {names[:5]}, expected X-First right above Received")
        expect(msg.get_all("X-First") == ["1"], f"{tid}: X-First {msg.get_all('X-First')}, expected ['1']")
        return f"X-First: 1 at the top, above Received ({qid})"
    raise Failure(f"unknown keyword {keyword}")


class OneConnection:
    name = "one_connection"
    what = "five transactions on one SMTP connection: keywords of one never leak into the next"

    def send(self, ctx):
        self.tids = [ctx.tid(f"{self.name}-{i}") for i in range(1, 6)]
        self.subjects = ["REPLACEBODY ADDRCPT CHGFROM CHGHDR INSHDR", "second, plain", "DELRCPT DISCARD",
                         "fourth, plain", "QUARANTINE"]
        self.qids = []
        extra = ["X-Change: one", "X-Change: two"]
        with ctx.connect() as s:
            for i, (tid, subject) in enumerate(zip(self.tids, self.subjects)):
                rcpts = [f"conn@{DOMAIN}", f"gone@{DOMAIN}"]
                self.qids.append(ctx.send(s, tid, rcpts, message(tid, [subject], extra=extra, rcpts=rcpts)))
                if i == 1:   # and an abandoned transaction in between
                    s.mail(f"<{SENDER}>")
                    s.rcpt(f"<abandoned@{DOMAIN}>")
                    s.rset()
            s.quit()

    def check(self, ctx):
        t, q, log = self.tids, self.qids, ctx.postfix.log()
        conn, gone, added = f"conn@{DOMAIN}", f"gone@{DOMAIN}", f"added@{DOMAIN}"
        first = delivered_to(ctx, t[0], [conn, gone, added])
        for m in first.values():
            expect(body_of(m) == "body replaced\n", f"{t[0]}: body {body_of(m)!r}")
            expect(m["Return-Path"] == f"<new@{DOMAIN}>", f"{t[0]}: Return-Path {m['Return-Path']}")
            expect(m.get_all("X-Change") == ["changed", "two"], f"{t[0]}: X-Change {m.get_all('X-Change')}")
            expect(m.get_all("X-First") == ["1"], f"{t[0]}: X-First {m.get_all('X-First')}")
        for i in (1, 3):
            for m in delivered_to(ctx, t[i], [conn, gone]).values():
                check_untouched(t[i], m, self.subjects[i])
        delivered_to(ctx, t[2], [])
        expect(re.search(rf"\b{q[2]}: milter-discard:", log), f"{t[2]}: no milter-discard for {q[2]}")
        delivered_to(ctx, t[4], [])
        expect(re.search(rf"^{q[4]}!\s", ctx.postfix.hold_queue(), re.M), f"{t[4]}: {q[4]} not on hold")
        expect(not re.search(rf"\b({q[1]}|{q[3]}): (milter-|to=<added@)", log),
               f"{t[1]}/{t[3]}: Postfix logged a milter action or added@ for a plain message")
        return f"all five as expected ({', '.join(q)})"


class FoldedSubject:
    name = "folded_subject"
    what = "a folded Subject whose keyword (REPLACEBODY) is on the continuation line"

    def send(self, ctx):
        tid = ctx.tid(self.name)
        with ctx.connect() as s:
            self.qid = ctx.send(s, tid, [f"folded@{DOMAIN}"],
                                message(tid, ["a long subject that is folded\r\n\tonto a second line: REPLACEBODY\r\n"
                                              "  and a third"]))
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        msg = delivered_to(ctx, tid, [f"folded@{DOMAIN}"])[f"folded@{DOMAIN}"]
        expect(msg["Subject"] == "a long subject that is folded\n\tonto a second line: REPLACEBODY\n  and a third",
               f"{tid}: Subject arrived as {msg['Subject']!r}")
        expect(body_of(msg) == "body replaced\n", f"{tid}: body {body_of(msg)!r}, expected 'body replaced\\n'")
        return f"body replaced ({self.qid})"


class SubjectMatching:
    name = "subject_matching"
    what = "keyword in a second Subject header counts; lower case, other headers and the body do not"

    def send(self, ctx):
        self.cases = [
            ("second", ["first subject", "second subject ADDRCPT"], "original body\r\n", []),
            ("lower", ["replacebody addrcpt chgfrom"], "original body\r\n", []),
            ("elsewhere", ["no keyword here"], "REPLACEBODY ADDRCPT in the body\r\n", ["X-Note: REPLACEBODY ADDRCPT"]),
        ]
        self.qids = {}
        with ctx.connect() as s:
            for key, subjects, body, extra in self.cases:
                tid = ctx.tid(f"{self.name}-{key}")
                self.qids[key] = ctx.send(s, tid, [f"match@{DOMAIN}"], message(tid, subjects, body, extra))
            s.quit()

    def check(self, ctx):
        rcpt, added = f"match@{DOMAIN}", f"added@{DOMAIN}"
        second = delivered_to(ctx, ctx.tid(f"{self.name}-second"), [rcpt, added])
        expect(second[added].get_all("Subject") == ["first subject", "second subject ADDRCPT"],
               f"second: Subject headers {second[added].get_all('Subject')}")
        lower = delivered_to(ctx, ctx.tid(f"{self.name}-lower"), [rcpt])[rcpt]
        check_untouched("lower", lower, "replacebody addrcpt chgfrom")
        elsewhere = delivered_to(ctx, ctx.tid(f"{self.name}-elsewhere"), [rcpt])[rcpt]
        check_untouched("elsewhere", elsewhere, "no keyword here", body="REPLACEBODY ADDRCPT in the body\n")
        return f"second Subject matched; lower case and non-Subject ignored ({', '.join(self.qids.values())})"


class Edit:
    """The editor example (examples/editor.hpp): one message whose Subject holds some of
    EDITHDRS, EDITENV, EDITBODY; its headers include two X-Change and an X-Remove."""

    def __init__(self, *keywords):
        self.keywords = keywords
        self.name = "edit_" + "_".join(k[4:].lower() for k in keywords)
        self.what = f"the editable message: {' '.join(keywords)}"
        self.rcpt = f"{self.name.replace('_', '-')}@{DOMAIN}"

    def send(self, ctx):
        tid = ctx.tid(self.name)
        rcpts = [self.rcpt, f"gone@{DOMAIN}"]
        with ctx.connect() as s:
            self.qid = ctx.send(s, tid, rcpts,
                                message(tid, [" ".join(self.keywords)], rcpts=rcpts,
                                        extra=["X-Change: one", "X-Remove: me", "X-Change: two"]))
            s.quit()

    def check(self, ctx):
        tid = ctx.tid(self.name)
        env = "EDITENV" in self.keywords
        msgs = delivered_to(ctx, tid, [self.rcpt, f"added@{DOMAIN}"] if env else [self.rcpt, f"gone@{DOMAIN}"])
        msg = msgs[self.rcpt]
        names = [k for k, _ in headers_of(msg)]
        done = []
        if "EDITHDRS" in self.keywords:
            # Delivery adds Return-Path, X-Original-To and Delivered-To above everything; then
            # X-Top (INSHEADER index 0: above Postfix's own Received), then Received.
            expect("X-Top" in names and names[names.index("X-Top") + 1] == "Received" and
                   set(names[:names.index("X-Top")]) <= {"Return-Path", "X-Original-To", "Delivered-To"},
                   f"{tid}: X-Top is not at the top, right above Received: {names}")
            expect(names[names.index("Subject") - 1] == "X-Before-Subject",
                   f"{tid}: X-Before-Subject is not right above Subject: {names}")
            expect(msg.get_all("X-Change") == ["one", "changed"], f"{tid}: X-Change {msg.get_all('X-Change')}")
            expect("X-Remove" not in names, f"{tid}: X-Remove still there: {names}")
            greeting = str(make_header(decode_header(msg["X-Greeting"] or "")))
            expect(greeting == "Grüße aus Köln", f"{tid}: X-Greeting decodes to {greeting!r}")
            raw = ctx.delivered(tid)[self.rcpt][1]
            expect(re.search(rb"^X-Greeting: =\?utf-8\?", raw, re.M | re.I), f"{tid}: X-Greeting is not encoded words")
            expect(names[-1] == "X-Greeting", f"{tid}: X-Greeting is not the last header: {names}")
            done.append("X-Top at the top, X-Before-Subject in place, 2nd X-Change changed, X-Remove gone, "
                        "encoded X-Greeting appended")
        else:
            expect(msg.get_all("X-Change") == ["one", "two"] and "X-Remove" in names and "X-Top" not in names,
                   f"{tid}: headers changed without EDITHDRS: {names}")
        if env:
            expect(msg["Return-Path"] == f"<new@{DOMAIN}>", f"{tid}: Return-Path {msg['Return-Path']}")
            done.append(f"gone@ removed, added@ added, sender <new@{DOMAIN}>")
        if "EDITBODY" in self.keywords:
            expect(body_of(msg) == "edited body\n", f"{tid}: body {body_of(msg)!r}")
            done.append("body replaced")
        else:
            expect(body_of(msg) == "original body\n", f"{tid}: body {body_of(msg)!r}")
        return "; ".join(done) + f" ({self.qid})"


def scenarios(suite):
    if suite == "editor":
        return [Edit("EDITHDRS"), Edit("EDITENV"), Edit("EDITBODY"), Edit("EDITHDRS", "EDITENV", "EDITBODY")]
    kws = ["REPLACEBODY", "ADDRCPT", "DELRCPT", "CHGFROM", "QUARANTINE", "DISCARD", "CHGHDR", "INSHDR"]
    return [BlockedSender(), TempfailRecipient(), Plain(), *[Keyword(k) for k in kws], OneConnection(),
            FoldedSubject(), SubjectMatching()]


def milter_log_clean(milter, transport):
    """showcase logged no warning or error (apart from the expected one about mode 0666) and
    exited with 0 after SIGTERM."""
    bad = [line for line in milter.log().splitlines()
           if re.search(r": (warning|error):", line) and not (transport == "unix" and "world-writable" in line)]
    expect(not bad, "the milter logged:\n  " + "\n  ".join(bad))
    expect(milter.returncode == 0, f"the milter exited with {milter.returncode} after SIGTERM")
    return "no warning or error; exit status 0 after SIGTERM"


def postfix_log_clean(postfix):
    bad = [line for line in postfix.log().splitlines()
           if re.search(r"(warning|fatal|panic|error):", line) and "milter" in line.lower()]
    expect(not bad, "Postfix logged:\n  " + "\n  ".join(bad))
    return "no milter warning or error in Postfix's log"


# ------------------------------------------------------------------------------------------


def describe(e):
    """A failure's text; for anything but a Failure, also its type and where it came from."""
    if isinstance(e, Failure):
        return str(e)
    tb = traceback.extract_tb(e.__traceback__)[-1]
    return f"{type(e).__name__}: {e} (at line {tb.lineno}, {tb.name})"


def run_suite(exe, transport, suite_scenarios, *, keep=False, milter_args=(), postfix_settings=(),
              log_clean=None):
    """Starts the milter `exe` (with `milter_args`) and a private Postfix, sends every scenario,
    then checks each; prints one PASS/FAIL line per scenario and returns the exit status (0, 1,
    or SKIP when Postfix or root is missing). Other suites (postfix_*.py) call this."""
    missing = [t for t in ("postfix", "postconf", "postqueue", "postcat") if tool(t) is None]
    if missing:
        print(f"SKIP: Postfix is not installed ({', '.join(missing)} not found); "
              "apt-get install postfix to run these tests")
        return SKIP
    if os.geteuid() != 0:
        print("SKIP: starting a private Postfix instance needs root")
        return SKIP
    try:
        pwd.getpwnam("postfix")
        grp.getgrnam("postdrop")
    except KeyError as e:
        print(f"SKIP: Postfix is installed but {e} does not exist")
        return SKIP
    exe = os.path.abspath(exe)
    if not os.access(exe, os.X_OK):
        print(f"FAIL: {exe} is not an executable (build it first)")
        return 1
    log_clean = log_clean or milter_log_clean

    def on_signal(signum, _frame):
        raise Watchdog(f"{signal.Signals(signum).name} after {time.monotonic() - started:.0f} s")

    started = time.monotonic()
    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    signal.alarm(BUDGET)

    version = run([tool("postconf"), "-h", "mail_version"]).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="cppmilter-postfix-"))
    if len(str(tmp)) > 60:   # keep the UNIX socket path short (sun_path is 108 bytes)
        shutil.rmtree(tmp)
        tmp = Path(tempfile.mkdtemp(prefix="cppmilter-postfix-", dir="/tmp"))
    tmp.chmod(0o755)         # user postfix reaches the socket, user nobody the maildir
    print(f"postfix_e2e: Postfix {version}, transport {transport}, directory {tmp}")

    milter = postfix = None
    results = []             # (name, ok, text)
    timings = {}
    try:
        try:
            t0 = time.monotonic()
            milter = Milter(exe, transport, tmp, milter_args)
            postfix = Postfix(tmp, milter.spec, postfix_settings)
            postfix.start()
            timings["start"] = time.monotonic() - t0
            print(f"postfix_e2e: smtpd on 127.0.0.1:{postfix.port}, smtpd_milters = {milter.spec}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, then everything stopped
            results.append(("setup", False, describe(e)))
        else:
            ctx = Context(postfix, f"{os.getpid()}-{transport}")
            t0 = time.monotonic()
            sent = []
            for sc in suite_scenarios:
                try:
                    sc.send(ctx)
                    sent.append(sc)
                except Exception as e:  # noqa: BLE001
                    results.append((sc.name, False, describe(e)))
            try:
                ctx.settle()
            except Exception as e:  # noqa: BLE001
                results.append(("settle", False, describe(e)))
            timings["scenarios"] = time.monotonic() - t0
            for sc in sent:
                try:
                    results.append((sc.name, True, sc.check(ctx)))
                except Exception as e:  # noqa: BLE001
                    results.append((sc.name, False, describe(e)))
            try:
                results.append(("postfix_log", True, postfix_log_clean(postfix)))
            except Exception as e:  # noqa: BLE001
                results.append(("postfix_log", False, describe(e)))
    except Watchdog as e:
        results.append(("watchdog", False, f"stopped by {e}"))
    finally:
        # Cleanup must run to the end: no watchdog, and a second SIGTERM/SIGINT waits for it.
        signal.alarm(0)
        interrupted = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: interrupted.append(signum))
        t0 = time.monotonic()
        if postfix is not None:
            postfix.stop()
        if milter is not None:
            milter.stop()
        timings["stop"] = time.monotonic() - t0

    if milter is not None and milter.returncode is not None and not any(n == "setup" for n, _, _ in results):
        try:
            results.append(("milter_log", True, log_clean(milter, transport)))
        except Exception as e:  # noqa: BLE001
            results.append(("milter_log", False, describe(e)))

    failed = [r for r in results if not r[1]]
    for name, ok, text in results:
        print(f"{'PASS' if ok else 'FAIL'} {transport}/{name}: {text}")
    print(f"postfix_e2e: {len(results) - len(failed)} passed, {len(failed)} failed; "
          + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
          + f", total {time.monotonic() - started:.1f} s")
    if failed:
        print(f"---- Postfix maillog (tail) {tmp / 'maillog'}\n{tail(tmp / 'maillog', 60)}")
        print(f"---- milter stderr (tail)\n{tail(tmp / 'milter.log', 60)}")
    if keep or os.environ.get("CPPMILTER_E2E_KEEP"):
        print(f"postfix_e2e: kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.flush()
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("showcase", help="path of the showcase binary")
    ap.add_argument("--transport", choices=("tcp", "unix"), default="tcp")
    ap.add_argument("--suite", choices=("showcase", "editor"), default="showcase",
                    help="the scenarios: the showcase milter's, or the editor example's")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (printed)")
    args = ap.parse_args()
    return run_suite(args.showcase, args.transport, scenarios(args.suite), keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
