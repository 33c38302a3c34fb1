#!/usr/bin/env python3
"""The seal milter and cppmilter-unseal as binaries (Python standard library only).

    seal_tools.py SEAL UNSEAL CPPMILTER_SEND

Checks seal's start-up refusals (exit 78, one line), cppmilter-unseal --generate-keypair,
messages sealed by a running seal (cppmilter-send plays the MTA) opened by cppmilter-unseal,
tampered values, wrong keys, messages without the header, and a SIGHUP that rotates the key
or fails and keeps the old one. One line per check; exit 0 when all pass, 1 otherwise.
seal_pynacl.py imports the helpers.
"""

import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WAIT = 20   # every single wait is bounded by this many seconds
HEADER = "X-Sealed-Info"


class Failure(Exception):
    pass


def expect(cond, text):
    if not cond:
        raise Failure(text)


def run(cmd, stdin=b"", timeout=WAIT):
    return subprocess.run([str(c) for c in cmd], input=stdin, capture_output=True, timeout=timeout)


def wait_until(what, predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class SealServer:
    """seal on a UNIX socket in `tmp`, stopped by its PID."""

    def __init__(self, exe, tmp, args):
        self.socket = Path(tmp) / "seal.sock"
        self.log_path = Path(tmp) / "seal.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([str(exe), "--listen", f"unix:{self.socket}", "--log-level", "info", *args],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

        def listening():
            if self.proc.poll() is not None:
                raise Failure(f"seal exited with {self.proc.returncode}: {self.log()}")
            return "listening on" in self.log()

        try:
            wait_until("seal to listen", listening)
        except BaseException:
            self.stop()
            raise

    def log(self):
        return self.log_path.read_text(errors="replace")

    def hangup_and_wait(self, line):
        """SIGHUP, then waits for the n-th log line containing `line`."""
        before = self.log().count(line)
        self.proc.send_signal(signal.SIGHUP)
        wait_until(f"seal to log {line!r}", lambda: self.log().count(line) > before)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def message(extra_headers=(), subject="sealed"):
    headers = ["From: <alice@example.org>", "To: <bob@example.net>", f"Subject: {subject}", *extra_headers]
    return ("\r\n".join(headers) + "\r\n\r\nhello\r\n").encode()


def send_through(cppmilter_send, server, msg, helo="client.example"):
    """The message as cppmilter-send says it would be delivered after the milter (LF line ends)."""
    r = run([cppmilter_send, "--milter", f"unix:{server.socket}", "--from", "alice@example.org",
             "--to", "bob@example.net", "--helo", helo, "-"], stdin=msg)
    out = r.stdout.decode(errors="replace")
    expect(r.returncode == 0, f"cppmilter-send exited with {r.returncode}: {out}{r.stderr.decode(errors='replace')}")
    # After "Sender:" and "Recipients:" lines and an empty line comes the delivered message.
    at = out.index("\nRecipients:")
    return out[out.index("\n\n", at) + 2:].encode()


def header_values(raw, name=HEADER):
    """The values of header `name` in a raw message, unfolded (continuation lines joined)."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode()
    fields = re.split(r"\n(?![ \t])", head)
    return [f.split(":", 1)[1].strip().replace("\n", "") for f in fields
            if ":" in f and f.split(":", 1)[0].strip().lower() == name.lower()]


def tags(value):
    """The v=, k=, d= tags of a header value (d= with its whitespace removed)."""
    out = {}
    for part in value.split(";"):
        if part.strip():
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    out["d"] = re.sub(r"\s", "", out.get("d", ""))
    return out


def with_value(raw, old, new):
    """`raw` with the folded header value `old` (as header_values() gave it) replaced by `new`."""
    head, body = raw.split(b"\n\n", 1)
    text = head.decode()
    m = re.search(rf"^{HEADER}:.*(?:\n[ \t].*)*", text, re.M)
    expect(m and m.group(0).split(":", 1)[1].strip().replace("\n", "") == old, "cannot find the header to change")
    return (text[:m.start()] + f"{HEADER}: {new}" + text[m.end():]).encode() + b"\n\n" + body


def flip_base64(value):
    """`value` with one base64 character of d= changed (in the middle: all its 6 bits count)."""
    at = value.index("d=") + 2 + 30
    return value[:at] + ("A" if value[at] != "A" else "B") + value[at + 1:]


def key_bytes(path):
    return base64.b64decode(Path(path).read_text().strip(), validate=True)


# ------------------------------------------------------------------------------------------


def check_startup_refusals(seal, unseal, _send, tmp):
    keys = tmp / "startup"
    keys.mkdir()
    expect(run([unseal, "--generate-keypair", keys / "good"]).returncode == 0, "--generate-keypair failed")
    (keys / "short.pub").write_text(base64.b64encode(bytes(16)).decode() + "\n")
    (keys / "garbage.pub").write_text("not base64 at all\n")
    good = keys / "good.pub"
    cases = [
        ([], "--public-key: none given"),
        (["--public-key", keys / "missing.pub"], f"--public-key {keys}/missing.pub: cannot be read"),
        (["--public-key", keys / "short.pub"], f"--public-key {keys}/short.pub: the key is 16 bytes, not 32"),
        (["--public-key", keys / "garbage.pub"], f"--public-key {keys}/garbage.pub: not a key"),
        (["--public-key", good, "--public-key", f"other={good}"], "--key-id: needed to choose among 2 public keys"),
        (["--public-key", good, "--key-id", "other"], "--key-id: no --public-key is named 'other'"),
        (["--public-key", good, "--header", "X:Bad"], "--header: 'X:Bad' is not a header field name"),
    ]
    for args, start in cases:
        r = run([seal, "--listen", f"unix:{tmp}/never.sock", *args])
        err = r.stderr.decode(errors="replace")
        expect(r.returncode == 78, f"seal {args}: exit {r.returncode}, expected 78 ({err.strip()})")
        expect(err.count("\n") == 1 and err.startswith(f"seal: {start}"), f"seal {args}: said {err!r}")
        expect(not (tmp / "never.sock").exists(), f"seal {args}: created its socket")
    return f"{len(cases)} bad settings: exit 78, one line each"


def check_generate_keypair(_seal, unseal, _send, tmp):
    prefix = tmp / "gen" / "2026-12"
    prefix.parent.mkdir()
    r = run([unseal, "--generate-keypair", prefix])
    expect(r.returncode == 0, f"--generate-keypair: exit {r.returncode}: {r.stderr!r}")
    pub, key = Path(f"{prefix}.pub"), Path(f"{prefix}.key")
    expect(oct(key.stat().st_mode & 0o777) == "0o600", f"{key}: mode {oct(key.stat().st_mode & 0o777)}")
    expect(oct(pub.stat().st_mode & 0o777) == "0o644", f"{pub}: mode {oct(pub.stat().st_mode & 0o777)}")
    expect(len(key_bytes(pub)) == 32 and len(key_bytes(key)) == 32, "the key files do not hold 32 bytes each")
    expect(key_bytes(pub) != key_bytes(key), "public and secret key are the same")
    expect(b"key id: 2026-12" in r.stdout, f"the key id is not printed: {r.stdout!r}")
    before = key.read_bytes()
    again = run([unseal, "--generate-keypair", prefix])
    expect(again.returncode == 73 and b"File exists" in again.stderr,
           f"a second --generate-keypair: exit {again.returncode} {again.stderr!r}, expected 73 File exists")
    expect(key.read_bytes() == before, "the existing secret key was overwritten")
    nowhere = run([unseal, "--generate-keypair", tmp / "no" / "such" / "dir" / "k"])
    expect(nowhere.returncode == 73, f"--generate-keypair into a missing directory: exit {nowhere.returncode}")
    return "0600 secret and 0644 public key of 32 bytes; never overwrites (73)"


def check_round_trip(seal, unseal, send, tmp):
    d = tmp / "round"
    d.mkdir()
    run([unseal, "--generate-keypair", d / "k1"])
    run([unseal, "--generate-keypair", d / "k2"])
    with SealServer(seal, d, ["--public-key", d / "k1.pub"]) as server:
        forged = f"{HEADER}: v=1; k=k1; d=Zm9yZ2Vk"
        delivered = send_through(send, server, message([forged]), helo="helo.example")
        second = send_through(send, server, message(subject="second"))
    values = header_values(delivered)
    expect(len(values) == 1 and "Zm9yZ2Vk" not in values[0], f"expected only our {HEADER}, got {values}")
    (d / "delivered.eml").write_bytes(delivered)

    r = run([unseal, "--secret-key", d / "k1.key", d / "delivered.eml"])
    expect(r.returncode == 0, f"unseal: exit {r.returncode}: {r.stderr!r}")
    lines = r.stdout.decode().splitlines()
    expect(len(lines) == 1, f"unseal printed {lines}")
    facts = json.loads(lines[0])
    expect(list(facts) == ["client_address", "client_port", "client_name", "helo", "auth_user", "tls_version",
                           "tls_cipher", "tls_cipher_bits", "queue_id", "time"], f"keys {list(facts)}")
    expect(facts["client_address"] == "127.0.0.1" and facts["client_port"] == 54321 and
           facts["client_name"] == "localhost" and facts["helo"] == "helo.example", f"facts {facts}")
    expect(all(facts[k] is None for k in ("auth_user", "tls_version", "tls_cipher", "tls_cipher_bits", "queue_id")),
           f"cppmilter-send sends no macros, yet: {facts}")
    expect(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", facts["time"]), f"time {facts['time']!r}")
    # From standard input, and a folded LF message as well as CRLF.
    crlf = delivered.replace(b"\n", b"\r\n")
    r = run([unseal, "--secret-key", d / "k1.key"], stdin=crlf)
    expect(r.returncode == 0 and r.stdout.decode().splitlines() == lines, f"stdin/CRLF: {r.returncode} {r.stdout!r}")
    # Two sealed headers: both printed, in order.
    both = with_value(delivered, values[0], values[0] + "\n" + f"{HEADER}: " + header_values(second)[0])
    r = run([unseal, "--secret-key", d / "k1.key"], stdin=both)
    expect(r.returncode == 0 and len(r.stdout.decode().splitlines()) == 2, f"two headers: {r.returncode} {r.stdout!r}")
    return f"one {HEADER} (the forged one deleted); unseal prints {lines[0][:60]}..."


def check_refusals(seal, unseal, send, tmp):
    d = tmp / "refusals"
    d.mkdir()
    run([unseal, "--generate-keypair", d / "k1"])
    run([unseal, "--generate-keypair", d / "k2"])
    with SealServer(seal, d, ["--public-key", d / "k1.pub"]) as server:
        delivered = send_through(send, server, message())
    value = header_values(delivered)[0]
    k1, k2 = ["--secret-key", d / "k1.key"], ["--secret-key", d / "k2.key"]

    def refused(args, stdin, status, pattern, what):
        r = run([unseal, *args], stdin=stdin)
        err = r.stderr.decode(errors="replace")
        expect(r.returncode == status, f"{what}: exit {r.returncode}, expected {status} ({err.strip()})")
        expect(err.count("\n") == 1 and re.search(pattern, err), f"{what}: said {err!r}")
        return r

    tampered = with_value(delivered, value, flip_base64(value))
    r = refused(k1, tampered, 1, rf"^cppmilter-unseal: {HEADER}: sealed for key 'k1', does not open with 'k1': "
                                 "changed on the way, or sealed for another key", "tampered")
    expect(r.stdout == b"", f"tampered: printed {r.stdout!r}")
    refused(k2, delivered, 1, r"does not open with 'k2'", "wrong key")
    r = run([unseal, *k2, *k1], stdin=delivered)   # the right key among several: found
    expect(r.returncode == 0 and b'"client_address"' in r.stdout, f"two keys: exit {r.returncode} {r.stderr!r}")
    refused(k1, message(), 1, rf"^cppmilter-unseal: the message has no {HEADER} header field$", "no header")
    (d / "plain.eml").write_bytes(message())
    refused([*k1, d / "plain.eml"], b"", 1, rf"plain.eml has no {HEADER} header field", "no header (file)")
    refused(k1, with_value(delivered, value, value.replace("v=1", "v=2")), 1, r"version v=2 is not 1", "v=2")
    refused(k1, with_value(delivered, value, "v=1; k=k1"), 1, r"no d= tag", "no d=")
    refused(k1, with_value(delivered, value, "v=1; k=k1; d=!!!!"), 1, r"d= is not base64", "bad base64")
    second_of_two = with_value(delivered, value, value + f"\n{HEADER}: " + flip_base64(value))
    r = refused(k1, second_of_two, 1, rf"{HEADER} \(2 of 2\): sealed for key 'k1', does not open", "one of two")
    expect(len(r.stdout.decode().splitlines()) == 1, f"one of two: the good one is not printed: {r.stdout!r}")
    refused(["--secret-key", d / "missing.key"], delivered, 66, r"missing.key: cannot be read", "missing key file")
    refused([*k1, d / "missing.eml"], b"", 66, r"missing.eml: No such file", "missing message")
    refused([], delivered, 64, r"--secret-key is needed", "no key")
    refused(["--bogus"], b"", 64, r"unrecognised option|unrecognized option", "unknown option")
    h = run([unseal, "--help"])
    expect(h.returncode == 0 and b"--generate-keypair" in h.stdout and b"Exit status" in h.stdout, "--help")
    return "tampered, wrong key, no header, malformed, missing files, usage: each refused with one line"


def check_hangup(seal, unseal, send, tmp):
    d = tmp / "hangup"
    d.mkdir()
    for name in ("old", "new"):
        run([unseal, "--generate-keypair", d / name])
    conf = d / "seal.conf"
    conf.write_text(f"public-key = {d}/old.pub\n")
    with SealServer(seal, d, ["--config", conf]) as server:
        first = tags(header_values(send_through(send, server, message()))[0])
        conf.write_text(f"public-key = {d}/old.pub\npublic-key = {d}/new.pub\nkey-id = new\n")
        server.hangup_and_wait("SIGHUP: settings reloaded")
        rotated = send_through(send, server, message())
        conf.write_text(f"public-key = {d}/old.pub\npublic-key = {d}/missing.pub\nkey-id = missing\n")
        server.hangup_and_wait("SIGHUP: the settings were not reloaded")
        kept = send_through(send, server, message())
        log = server.log()
        status = server.stop()
    expect(first["k"] == "old", f"before SIGHUP: k={first['k']}")
    expect(tags(header_values(rotated)[0])["k"] == "new", f"after SIGHUP: {header_values(rotated)}")
    expect(tags(header_values(kept)[0])["k"] == "new", f"after a failed SIGHUP: {header_values(kept)}")
    for raw, key in ((rotated, "new"), (kept, "new")):
        r = run([unseal, "--secret-key", d / f"{key}.key"], stdin=raw)
        expect(r.returncode == 0, f"sealed after SIGHUP does not open with {key}.key: {r.stderr!r}")
    expect(re.search(r"error: .*SIGHUP: the settings were not reloaded.*missing\.pub: cannot be read", log),
           f"no error line naming the missing key: {log}")
    expect(status == 0, f"seal exited with {status} after SIGTERM")
    return "SIGHUP rotates to the new key; a failed reload keeps it and logs one error"


def check_docs_walkthrough(seal, unseal, send, tmp):
    """The "Try it" commands of docs/examples/seal.md, run as written (build/ and /tmp/seal-demo
    pointed at this build and a directory of this run)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "examples" / "seal.md").read_text()
    block = re.search(r"^## Try it\n.*?^```sh\n(.*?)^```", doc, re.S | re.M)
    expect(block, "docs/examples/seal.md has no ```sh block under '## Try it'")
    script = block.group(1)
    for tool, exe in (("build/examples/seal ", seal), ("build/examples/cppmilter-unseal ", unseal),
                      ("build/tools/cppmilter-send ", send)):
        expect(tool in script, f"the walkthrough does not use {tool.strip()}")
        script = script.replace(tool, f"{exe} ")
    script = script.replace("/tmp/seal-demo", str(tmp / "seal-demo"))
    # If a command fails before the walkthrough's own kill, the trap stops the seal it started;
    # on a timeout the whole process group goes.
    script = 'trap \'if [ -n "${seal_pid:-}" ]; then kill "$seal_pid" 2>/dev/null || true; fi\' EXIT\n' + script
    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    out = stdout.decode(errors="replace")
    expect(proc.returncode == 0, f"the walkthrough exited with {proc.returncode}: {out}{stderr.decode(errors='replace')}")
    facts = json.loads(out.strip().splitlines()[-1])
    expect(facts["helo"] == "laptop.example.org" and facts["client_address"] == "127.0.0.1", f"printed {facts}")
    session = (tmp / "seal-demo" / "session.txt").read_text()
    expect('CHGHEADER index=1 name="X-Sealed-Info" value=""' in session, "the forged header was not deleted")
    return "ran as written; prints " + out.strip().splitlines()[-1][:50] + "..."


CHECKS = [check_startup_refusals, check_generate_keypair, check_round_trip, check_refusals, check_hangup,
          check_docs_walkthrough]


def main(argv):
    if len(argv) != 4:
        print(__doc__)
        return 64
    seal, unseal, send = (Path(a).resolve() for a in argv[1:])
    failed = 0
    with tempfile.TemporaryDirectory(prefix="seal-tools-") as t:
        tmp = Path(t)
        for check in CHECKS:
            try:
                print(f"PASS {check.__name__[6:]}: {check(seal, unseal, send, tmp)}")
            except (Failure, subprocess.TimeoutExpired, OSError, ValueError, KeyError, IndexError) as e:
                failed += 1
                print(f"FAIL {check.__name__[6:]}: {type(e).__name__}: {e}")
    print(f"seal_tools: {len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
