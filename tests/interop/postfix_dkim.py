#!/usr/bin/python3
"""The dkim milter against a real Postfix, checked by dkimpy (Debian python3-dkim).

    postfix_dkim.py PATH/TO/dkim DATA_DIR [--keep]

Three runs of a private Postfix (tests/interop/postfix_e2e.py's run_suite), each with dkim as
its smtpd milter:

* sign, relaxed/relaxed, then sign, simple/simple: RSA-2048 and Ed25519 keys of one domain
  (--sign internal: the client is 127.0.0.1). Messages with plain, folded, 8-bit and
  duplicated header fields and two spaces after a colon go through Postfix; the delivered
  maildir file must carry two DKIM-Signature fields at the very top that dkimpy verifies
  (and fails once a body byte or a signed field is changed). A message whose From has no key
  arrives unsigned.
* verify: messages signed by dkimpy (RSA and Ed25519), the same with a body byte or a signed
  field changed, an unsigned one, one carrying a forged Authentication-Results for our
  authserv-id; the delivered copy must have exactly one Authentication-Results of ours, at the
  top, saying pass, fail, fail, none, none.

Keys: DATA_DIR (test keys only). Exit 0, 1 on a failure, 77 (skip) without Postfix, root,
dkimpy or PyNaCl. Run with /usr/bin/python3 (Debian's modules).
"""

import base64
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import postfix_e2e as e2e  # noqa: E402

try:
    import dkim
    import nacl.signing  # noqa: F401 - dkimpy needs it for ed25519-sha256
except ImportError as err:
    print(f"SKIP: {err} (apt-get install python3-dkim python3-nacl)")
    sys.exit(e2e.SKIP)

AUTHSERV = "mx.e2e.test"
DOMAIN = "example.test"


def key_lookup(data):
    records = {}
    for line in (data / "key-records.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, record = line.split(" ", 1)
            records[name.lower()] = record.encode()
    return lambda name, timeout=5: records.get(name.decode().rstrip(".").lower(), b"")


def crlf(raw):
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def message(test_id, kind, sender_domain=DOMAIN):
    """CRLF bytes; `kind` plain or awkward (folded, 8-bit, duplicated, two spaces)."""
    if kind == "plain":
        head = [f"From: Alice <alice@{sender_domain}>".encode(), b"To: <bob@example.test>", b"Subject: plain",
                b"Date: Wed, 02 Dec 2026 12:00:00 +0000"]
        body = b"Hello,\r\n\r\nthe body.\r\n"
    else:
        head = [f"From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@{sender_domain}>".encode(),
                b"To: <bob@example.test>,\r\n\tsecond@example.org,\r\n  third@example.org",
                b"To: fourth@example.org",
                b"Subject: Gr\xc3\xbc\xc3\x9fe aus K\xf6ln",
                b"Subject:  two spaces after the colon",
                b"X-Folded: leading\r\n\tand a tab fold",
                b"Date: Wed, 02 Dec 2026 12:00:00 +0000"]
        body = b"8-bit body: \xc3\xa4\xc3\xb6\xc3\xbc \xe4\r\ntrailing spaces   \r\n\r\n\r\n"
    head += [f"Message-ID: <{test_id}@example.test>".encode(), f"X-Test-Id: {test_id}".encode()]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def changed_body(raw):
    head, body = raw.split(b"\r\n\r\n", 1)
    return head + b"\r\n\r\n" + bytes([body[0] ^ 0x20]) + body[1:]


def changed_from(raw):
    return raw.replace(b"\r\nFrom: ", b"\r\nFrom: x", 1) if b"\r\nFrom: " in raw else raw.replace(b"From: ", b"From: x", 1)


def delivered_raw(ctx, test_id):
    got = ctx.delivered(test_id)
    e2e.expect(list(got) == ["bob@example.test"], f"{test_id}: delivered to {sorted(got)}, expected bob@example.test")
    return crlf(got["bob@example.test"][1])


def top_fields(raw):
    """The header field names in order (the delivery agent's Return-Path/Delivered-To first)."""
    names = []
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line and line[:1] not in (b" ", b"\t"):
            names.append(line.split(b":", 1)[0].decode(errors="replace"))
    return names


class Signed:
    """Sent through the signer; dkimpy must verify both signatures of the delivered copy."""

    def __init__(self, kind, dnsfunc):
        self.kind, self.dnsfunc = kind, dnsfunc
        self.name = f"signed_{kind}"

    def send(self, ctx):
        self.tid = ctx.tid(self.name)
        s = ctx.connect()
        try:
            ctx.send(s, self.tid, ["bob@example.test"], message(self.tid, self.kind))
        finally:
            s.quit()

    def check(self, ctx):
        raw = delivered_raw(ctx, self.tid)
        names = top_fields(raw)
        # Postfix's own Received sits below the signatures (they went in at index 0); above them
        # only what the delivery agent adds (Return-Path, Delivered-To, X-Original-To).
        first_sig = names.index("DKIM-Signature") if "DKIM-Signature" in names else -1
        e2e.expect(names.count("DKIM-Signature") == 2, f"{self.tid}: {names.count('DKIM-Signature')} signatures: {names}")
        e2e.expect(names[first_sig:first_sig + 3] == ["DKIM-Signature", "DKIM-Signature", "Received"],
                   f"{self.tid}: field order {names}")
        e2e.expect(set(names[:first_sig]) <= {"Return-Path", "Delivered-To", "X-Original-To"},
                   f"{self.tid}: field order {names}")
        # dkimpy checks the first signature; verify each by dropping the other.
        lines = raw.split(b"\r\n\r\n", 1)[0]
        algs = []
        for keep in (0, 1):
            sigs = dkim.DKIM(raw)
            sig_fields = [(n, v) for n, v in sigs.headers if n.lower() == b"dkim-signature"]
            v = dkim.DKIM(raw).verify(idx=keep, dnsfunc=self.dnsfunc)
            e2e.expect(v, f"{self.tid}: dkimpy does not verify signature {keep}:\n{lines.decode(errors='replace')}")
            algs.append(b"ed25519-sha256" if b"a=ed25519-sha256" in sig_fields[keep][1] else b"rsa-sha256")
        e2e.expect(sorted(algs) == [b"ed25519-sha256", b"rsa-sha256"], f"{self.tid}: algorithms {algs}")
        e2e.expect(not dkim.verify(changed_body(raw), dnsfunc=self.dnsfunc), f"{self.tid}: a changed body still verifies")
        e2e.expect(not dkim.verify(changed_from(raw), dnsfunc=self.dnsfunc), f"{self.tid}: a changed From still verifies")
        return "both signatures at the top, verified by dkimpy; body or From changed: fail"


class NoKey:
    """From a domain without a key: delivered unsigned."""
    name = "unsigned_no_key"

    def send(self, ctx):
        self.tid = ctx.tid(self.name)
        s = ctx.connect()
        try:
            ctx.send(s, self.tid, ["bob@example.test"], message(self.tid, "plain", "elsewhere.test"))
        finally:
            s.quit()

    def check(self, ctx):
        names = top_fields(delivered_raw(ctx, self.tid))
        e2e.expect("DKIM-Signature" not in names, f"{self.tid}: signed anyway: {names}")
        return "delivered without a signature"


class Verified:
    """Signed by dkimpy (or not), perhaps altered, sent through the verifier."""

    def __init__(self, name, make, expected):
        self.name, self.make, self.expected = name, make, expected

    def send(self, ctx):
        self.tid = ctx.tid(self.name)
        s = ctx.connect()
        try:
            ctx.send(s, self.tid, ["bob@example.test"], self.make(self.tid))
        finally:
            s.quit()

    def check(self, ctx):
        raw = delivered_raw(ctx, self.tid)
        msg = e2e.BytesParser(policy=e2e.policy.compat32).parsebytes(raw)
        ours = [v for v in (msg.get_all("Authentication-Results") or []) if v.strip().lower().startswith(AUTHSERV)]
        e2e.expect(len(ours) == 1, f"{self.tid}: {len(ours)} Authentication-Results of ours: {ours}")
        results = [r.split()[0] for r in ours[0].replace("\r\n", " ").replace("\n", " ").split(";")[1:]]
        e2e.expect(results == self.expected, f"{self.tid}: {ours[0]!r}, expected {self.expected}")
        names = top_fields(raw)
        e2e.expect(names.index("Authentication-Results") < names.index("Received"),
                   f"{self.tid}: Authentication-Results not above Received: {names}")
        return f"Authentication-Results: {AUTHSERV}; {'; '.join(results)}"


def dkimpy_signed(data, selector, kind, alter=None):
    rsa = (data / "rsa2048.pem").read_bytes()
    der = base64.b64decode(b"".join(line for line in (data / "ed25519.pem").read_bytes().splitlines()
                                    if not line.startswith(b"-----")))
    key, alg = (rsa, b"rsa-sha256") if selector == "rsa" else (base64.b64encode(der[-32:]), b"ed25519-sha256")

    def make(tid):
        msg = message(tid, kind)
        sig = dkim.sign(msg, selector.encode(), DOMAIN.encode(), key, signature_algorithm=alg,
                        canonicalize=(b"relaxed", b"simple") if kind == "plain" else (b"simple", b"simple"),
                        include_headers=[b"From", b"To", b"Subject", b"Date", b"Message-ID"])
        signed = sig.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + msg
        return alter(signed) if alter else signed
    return make


def main():
    args = [a for a in sys.argv[1:] if a != "--keep"]
    keep = "--keep" in sys.argv
    exe, data = args[0], Path(args[1]).resolve()
    dnsfunc = key_lookup(data)
    keys = ["--signing-key", f"{DOMAIN}:rsa:{data / 'rsa2048.pem'}", "--signing-key", f"{DOMAIN}:ed:{data / 'ed25519.pem'}"]
    status = 0
    for canon in ("relaxed/relaxed", "simple/simple"):
        print(f"postfix_dkim: sign, {canon}")
        rc = e2e.run_suite(exe, "unix", [Signed("plain", dnsfunc), Signed("awkward", dnsfunc), NoKey()], keep=keep,
                           milter_args=["--mode", "sign", "--sign", "internal", "--canonicalization", canon, *keys])
        if rc == e2e.SKIP:
            return rc
        status = status or rc
    print("postfix_dkim: verify")
    forged = lambda tid: (f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=forged.example\r\n".encode()
                          + message(tid, "plain"))
    scenarios = [
        Verified("dkimpy_rsa_plain", dkimpy_signed(data, "rsa", "plain"), ["dkim=pass"]),
        Verified("dkimpy_ed_awkward", dkimpy_signed(data, "ed", "awkward"), ["dkim=pass"]),
        Verified("dkimpy_rsa_awkward", dkimpy_signed(data, "rsa", "awkward"), ["dkim=pass"]),
        Verified("body_changed", dkimpy_signed(data, "ed", "plain", changed_body), ["dkim=fail"]),
        Verified("from_changed", dkimpy_signed(data, "rsa", "awkward", changed_from), ["dkim=fail"]),
        Verified("unsigned", lambda tid: message(tid, "plain"), ["dkim=none"]),
        Verified("forged_results", forged, ["dkim=none"]),
    ]
    rc = e2e.run_suite(exe, "unix", scenarios, keep=keep,
                       milter_args=["--mode", "verify", "--authserv-id", AUTHSERV,
                                    "--key-records", str(data / "key-records.txt")])
    return status or rc


if __name__ == "__main__":
    sys.exit(main())
