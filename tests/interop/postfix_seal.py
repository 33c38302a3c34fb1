#!/usr/bin/env python3
"""End-to-end test of the seal milter (examples/seal.hpp) against a real Postfix.

    postfix_seal.py PATH/TO/seal PATH/TO/cppmilter-unseal [--transport unix|tcp] [--keep]

Makes a key pair with cppmilter-unseal, starts seal with its public key and a private Postfix
(postfix_e2e.run_suite), sends messages over SMTP and opens the X-Sealed-Info header of each
delivered copy with cppmilter-unseal: the client address is 127.0.0.1, the HELO name the one
this test gave, the queue id the one Postfix gave that message; a forged X-Sealed-Info from the
client is gone; after STARTTLS (when openssl can make a certificate) the TLS version and cipher
are there. Exit 0, 1, or 77 (skip) when Postfix is not installed or we are not root.
"""

import argparse
import json
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import postfix_e2e as e2e  # noqa: E402

DOMAIN = e2e.DOMAIN
HEADER = "X-Sealed-Info"


def unseal(ctx, test_id, rcpt):
    """The delivered copy's raw bytes and the JSON cppmilter-unseal prints for its header."""
    got = ctx.delivered(test_id)
    e2e.expect(sorted(got) == [rcpt], f"{test_id}: delivered to {sorted(got)}, expected [{rcpt}]")
    msg, raw = got[rcpt]
    e2e.expect(len(msg.get_all(HEADER) or []) == 1, f"{test_id}: {HEADER} headers {msg.get_all(HEADER)}")
    r = subprocess.run([str(UNSEAL), "--secret-key", str(SECRET_KEY)], input=raw, capture_output=True,
                       timeout=e2e.WAIT)
    e2e.expect(r.returncode == 0, f"{test_id}: cppmilter-unseal exited with {r.returncode}: {r.stderr.decode()}")
    return raw, json.loads(r.stdout)


def check_header_form(test_id, raw):
    """v=1; k=e2e; d=..., folded with lines of at most 78 columns."""
    head = raw.split(b"\n\n", 1)[0].decode()
    m = re.search(rf"^{HEADER}: .*(?:\n[ \t].*)*", head, re.M)
    e2e.expect(m, f"{test_id}: no {HEADER} in the header section")
    lines = m.group(0).split("\n")
    e2e.expect(len(lines) > 1 and all(len(line.rstrip("\r")) <= 78 for line in lines),
               f"{test_id}: {HEADER} is not folded into lines of at most 78 columns: {lines}")
    e2e.expect(re.match(rf"{HEADER}: v=1; k=e2e;", m.group(0)), f"{test_id}: {HEADER} starts {lines[0]!r}")


class PlainSubmissions:
    name = "plain"
    what = "two messages on one connection, one with a forged header: each sealed with its own queue id"

    def send(self, ctx):
        self.tids = [ctx.tid("seal-plain-1"), ctx.tid("seal-plain-2")]
        self.rcpt = f"sealed@{DOMAIN}"
        forged = f"{HEADER}: v=1; k=e2e; d=Zm9yZ2VkIGJ5IHRoZSBjbGllbnQ="
        with ctx.connect() as s:   # HELO client.e2e.invalid
            self.qids = [ctx.send(s, self.tids[0], [self.rcpt], e2e.message(self.tids[0], ["forged"], extra=[forged])),
                         ctx.send(s, self.tids[1], [self.rcpt], e2e.message(self.tids[1], ["second"]))]
            s.quit()

    def check(self, ctx):
        for tid, qid in zip(self.tids, self.qids):
            raw, facts = unseal(ctx, tid, self.rcpt)
            check_header_form(tid, raw)
            e2e.expect(b"Zm9yZ2Vk" not in raw, f"{tid}: the forged {HEADER} was delivered")
            e2e.expect(facts["client_address"] == "127.0.0.1", f"{tid}: client_address {facts['client_address']}")
            e2e.expect(facts["helo"] == "client.e2e.invalid", f"{tid}: helo {facts['helo']}")
            e2e.expect(facts["queue_id"] == qid, f"{tid}: queue_id {facts['queue_id']}, Postfix said {qid}")
            e2e.expect(isinstance(facts["client_port"], int) and 0 < facts["client_port"] < 65536,
                       f"{tid}: client_port {facts['client_port']}")
            e2e.expect(facts["auth_user"] is None and facts["tls_version"] is None, f"{tid}: facts {facts}")
        return f"both sealed, queue ids {', '.join(self.qids)} read back, forged header gone"


class TlsSubmission:
    name = "tls"
    what = "a message after STARTTLS: TLS version, cipher and bits are sealed too"

    def send(self, ctx):
        self.tid = ctx.tid("seal-tls")
        self.rcpt = f"tls@{DOMAIN}"
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE   # the private instance's self-signed certificate
        with smtplib.SMTP("127.0.0.1", ctx.postfix.port, local_hostname="tls.e2e.invalid", timeout=e2e.WAIT) as s:
            code, text = s.starttls(context=tls)
            e2e.expect(code == 220, f"STARTTLS answered {code} {text!r}")
            self.qid = ctx.send(s, self.tid, [self.rcpt], e2e.message(self.tid, ["over TLS"]))
            s.quit()

    def check(self, ctx):
        _, facts = unseal(ctx, self.tid, self.rcpt)
        e2e.expect(facts["helo"] == "tls.e2e.invalid" and facts["queue_id"] == self.qid, f"facts {facts}")
        e2e.expect(re.fullmatch(r"TLSv1\.[23]", facts["tls_version"] or ""), f"tls_version {facts['tls_version']}")
        e2e.expect(facts["tls_cipher"], f"tls_cipher {facts['tls_cipher']}")
        e2e.expect(isinstance(facts["tls_cipher_bits"], int) and facts["tls_cipher_bits"] >= 128,
                   f"tls_cipher_bits {facts['tls_cipher_bits']}")
        return f"{facts['tls_version']} {facts['tls_cipher']} {facts['tls_cipher_bits']} ({self.qid})"


UNSEAL = SECRET_KEY = None


def main():
    global UNSEAL, SECRET_KEY
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seal")
    ap.add_argument("unseal")
    ap.add_argument("--transport", choices=("tcp", "unix"), default="unix")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    UNSEAL = Path(args.unseal).resolve()

    keys = Path(tempfile.mkdtemp(prefix="cppmilter-seal-keys-"))
    try:
        r = subprocess.run([str(UNSEAL), "--generate-keypair", str(keys / "e2e")], capture_output=True,
                           timeout=e2e.WAIT)
        if r.returncode != 0:
            print(f"FAIL setup: cppmilter-unseal --generate-keypair exited with {r.returncode}: {r.stderr.decode()}")
            return 1
        SECRET_KEY = keys / "e2e.key"
        scenarios = [PlainSubmissions()]
        settings = []
        openssl = shutil.which("openssl")
        if openssl:
            # A throwaway certificate, so that smtpd offers STARTTLS (Postfix reads it as root).
            made = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                   "-subj", "/CN=mx.e2e.invalid", "-keyout", str(keys / "tls.key"),
                                   "-out", str(keys / "tls.crt")], capture_output=True, timeout=e2e.WAIT)
            if made.returncode != 0:
                print(f"FAIL setup: openssl req exited with {made.returncode}: {made.stderr.decode()}")
                return 1
            settings = ["smtpd_tls_security_level = may", f"smtpd_tls_cert_file = {keys / 'tls.crt'}",
                        f"smtpd_tls_key_file = {keys / 'tls.key'}"]
            scenarios.append(TlsSubmission())
        else:
            print("postfix_seal: no openssl to make a certificate: the STARTTLS scenario is left out")
        keys.chmod(0o755)
        return e2e.run_suite(args.seal, args.transport, scenarios, keep=args.keep,
                             milter_args=["--public-key", str(keys / "e2e.pub")], postfix_settings=settings)
    finally:
        shutil.rmtree(keys, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
