#!/usr/bin/python3
"""The dkim milter checked by an independent DKIM implementation, dkimpy (Debian python3-dkim).

    dkimpy_check.py PATH/TO/dkim PATH/TO/cppmilter-send DATA_DIR

1. dkim (sign mode) signs messages sent through it with cppmilter-send (which plays Postfix:
   one space after the colon taken, folded lines joined with LF); dkimpy verifies the result,
   for RSA-SHA256 and Ed25519-SHA256, relaxed and simple header canonicalization, plain,
   folded, 8-bit and duplicated header fields. dkimpy must also see a changed body byte and a
   changed signed header field as failures (so that its "pass" means something).
2. dkimpy signs; dkim (verify mode) must answer dkim=pass, and dkim=fail after one byte of the
   body or of a signed header field changed; an rsa-sha1 signature is a permerror (RFC 8301).

Keys: DATA_DIR/*.pem and DATA_DIR/key-records.txt (test keys only). Every milter started here
listens on 127.0.0.1 and is stopped by PID. Exit 0 when all pass, 1 on a failure, 77 (skip)
when dkimpy or PyNaCl (for Ed25519) is missing.
"""

import base64
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SKIP = 77
try:
    import dkim
    import nacl.signing  # noqa: F401 - dkimpy needs it for ed25519-sha256
except ImportError as e:
    print(f"SKIP: {e} (apt-get install python3-dkim python3-nacl)")
    sys.exit(SKIP)

DOMAIN = b"example.test"


class Milter:
    """dkim listening on a free loopback port, for one configuration."""

    def __init__(self, exe, *args):
        self.log = tempfile.TemporaryFile()    # not a pipe: a full pipe would stall the milter
        self.proc = subprocess.Popen([exe, "--listen", "inet:127.0.0.1:0", "--log-level", "info", *args],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            self.log.seek(0)
            text = self.log.read().decode(errors="replace")
            m = re.search(r"listening on (inet:127\.0\.0\.1:\d+)", text)
            if m:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dkim did not start: {text.strip()}")
            time.sleep(0.05)
        self.spec = m.group(1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def through(send, milter, message):
    """The message as the milter left it (CRLF), via cppmilter-send."""
    r = subprocess.run([send, "--milter", milter.spec, "--from", "alice@example.test", "--to", "bob@example.org",
                        "--timeout", "20s", "-"], input=message, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"cppmilter-send exited with {r.returncode}: {r.stderr.decode(errors='replace')}")
    out = r.stdout
    start = out.index(b"\n\n", out.index(b"\nRecipients:")) + 2
    return out[start:].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def key_records(data):
    records = {}
    for line in (data / "key-records.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, record = line.split(" ", 1)
            records[name.lower()] = record.encode()
    return lambda name, timeout=5: records.get(name.decode().rstrip(".").lower(), b"")


def messages():
    plain = (b"From: Alice <alice@example.test>\r\nTo: bob@example.org\r\nSubject: greetings\r\n"
             b"Date: Wed, 02 Dec 2026 12:00:00 +0000\r\nMessage-ID: <p@example.test>\r\n\r\nHello,\r\n\r\nbody.\r\n")
    awkward = (b"From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.test>\r\n"
               b"To: first@example.org,\r\n\tsecond@example.org,\r\n  third@example.org\r\n"
               b"To: fourth@example.org\r\n"
               b"Subject: Gr\xc3\xbc\xc3\x9fe aus K\xf6ln\r\n"
               b"Subject: a second subject\r\n"
               b"X-Folded: leading\r\n\tand a tab fold\r\n"
               b"Message-ID: <a@example.test>\r\n\r\n"
               b"8-bit body: \xc3\xa4\xc3\xb6\xc3\xbc \xe4\r\ntrailing spaces   \r\n\r\n\r\n")
    # (Two spaces after a colon are left to the Postfix test: cppmilter-send removes all the
    # white space after the colon, where Postfix removes one space.)
    return {"plain": plain, "folded_8bit_duplicated": awkward}


def changed_body(msg):
    head, body = msg.split(b"\r\n\r\n", 1)
    return head + b"\r\n\r\n" + bytes([body[0] ^ 0x20]) + body[1:]


def changed_header(msg):
    """From is signed by both signers (a To may be an unsigned duplicate)."""
    return msg.replace(b"\r\nFrom: ", b"\r\nFrom: x", 1)


def main():
    exe, send, data = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    dnsfunc = key_records(data)
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}")

    # 1. dkim signs, dkimpy verifies.
    keys = {"rsa": data / "rsa2048.pem", "ed": data / "ed25519.pem"}
    for selector, path in keys.items():
        for canon in ("relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"):
            with Milter(exe, "--mode", "sign", "--sign", "all", "--signing-key", f"example.test:{selector}:{path}",
                        "--canonicalization", canon) as m:
                for name, msg in messages().items():
                    signed = through(send, m, msg)
                    label = f"dkimpy verifies dkim's {selector} {canon} {name}"
                    if not signed.startswith(b"DKIM-Signature: "):
                        check(label, False, "no DKIM-Signature at the top:\n" + signed[:300].decode(errors="replace"))
                        continue
                    sig = signed.split(b"\r\n\r\n", 1)[0]
                    want_alg = b"ed25519-sha256" if selector == "ed" else b"rsa-sha256"
                    check(label, dkim.verify(signed, dnsfunc=dnsfunc) and b"a=" + want_alg in sig,
                          signed[:600].decode(errors="replace"))
                    check(f"dkimpy fails dkim's {selector} {canon} {name} after a body byte changed",
                          not dkim.verify(changed_body(signed), dnsfunc=dnsfunc))
                    check(f"dkimpy fails dkim's {selector} {canon} {name} after a signed header changed",
                          not dkim.verify(changed_header(signed), dnsfunc=dnsfunc))

    # 2. dkimpy signs, dkim verifies.
    rsa_pem = keys["rsa"].read_bytes()
    ed_der = base64.b64decode(b"".join(l for l in keys["ed"].read_bytes().splitlines() if not l.startswith(b"-----")))
    ed_seed = base64.b64encode(ed_der[-32:])   # PKCS#8 Ed25519: the 32-byte seed ends the DER
    with Milter(exe, "--mode", "verify", "--authserv-id", "mx.test", "--key-records", str(data / "key-records.txt")) as m:
        for selector, key, alg in ((b"rsa", rsa_pem, b"rsa-sha256"), (b"ed", ed_seed, b"ed25519-sha256")):
            for canon in ((b"relaxed", b"relaxed"), (b"simple", b"simple")):
                for name, msg in messages().items():
                    sig = dkim.sign(msg, selector, DOMAIN, key, canonicalize=canon, signature_algorithm=alg,
                                    include_headers=[b"From", b"To", b"Subject", b"Message-ID"])
                    signed = sig + msg
                    label = f"dkim verifies dkimpy's {selector.decode()} {b'/'.join(canon).decode()} {name}"
                    for variant, expected in (("", "pass"), (" after a body byte changed", "fail"),
                                              (" after a signed header changed", "fail")):
                        text = {"": signed, " after a body byte changed": changed_body(signed),
                                " after a signed header changed": changed_header(signed)}[variant]
                        out = through(send, m, text)
                        ar = re.search(rb"^Authentication-Results: mx\.test;\s*dkim=(\w+)[^\r\n]*(?:\r\n\s[^\r\n]*)*",
                                       out, re.M)
                        got = ar.group(1).decode() if ar else None
                        check(label + variant, got == expected,
                              f"expected dkim={expected}, got {ar.group(0).decode(errors='replace') if ar else 'no header'}")
        # RFC 8301: a valid rsa-sha1 signature must not pass.
        msg = messages()["plain"]
        signed = dkim.sign(msg, b"rsa", DOMAIN, rsa_pem, signature_algorithm=b"rsa-sha1") + msg
        out = through(send, m, signed)
        check("dkim refuses dkimpy's rsa-sha1 signature (RFC 8301)",
              b'dkim=permerror reason="rsa-sha1 is not accepted"' in out, out[:400].decode(errors="replace"))
    failed = results.count(False)
    print(f"dkimpy_check: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
