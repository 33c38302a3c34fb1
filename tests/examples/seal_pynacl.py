#!/usr/bin/python3
"""An independent check of the seal format with PyNaCl (Debian python3-nacl).

    /usr/bin/python3 seal_pynacl.py SEAL UNSEAL CPPMILTER_SEND

1. PyNaCl makes a key pair; seal (running, cppmilter-send playing the MTA) seals with its
   public key; PyNaCl's SealedBox opens the header and finds the JSON.
2. The same value with one byte changed: PyNaCl raises CryptoError, cppmilter-unseal exits 1.
3. cppmilter-unseal --generate-keypair makes a key pair; PyNaCl seals a JSON object to its
   public key in the header's format; cppmilter-unseal opens it.
Exit 0 when all pass, 1 otherwise, 77 when PyNaCl is not installed.
"""

import base64
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seal_tools as st  # noqa: E402

try:
    from nacl.exceptions import CryptoError
    from nacl.public import PrivateKey, PublicKey, SealedBox
except ImportError:
    print("SKIP: PyNaCl is not installed (apt-get install python3-nacl); run with /usr/bin/python3")
    sys.exit(77)


def box_of(value):
    t = st.tags(value)
    st.expect(t.get("v") == "1", f"v={t.get('v')}")
    return t["k"], base64.b64decode(t["d"], validate=True)


def check_pynacl_opens_what_seal_sealed(seal, unseal, send, tmp):
    secret = PrivateKey.generate()
    (tmp / "nacl.pub").write_text(base64.b64encode(bytes(secret.public_key)).decode() + "\n")
    (tmp / "nacl.key").write_text(base64.b64encode(bytes(secret)).decode() + "\n")
    with st.SealServer(seal, tmp, ["--public-key", tmp / "nacl.pub"]) as server:
        delivered = st.send_through(send, server, st.message(), helo="pynacl.example")
    values = st.header_values(delivered)
    st.expect(len(values) == 1, f"{st.HEADER} headers: {values}")
    key_id, box = box_of(values[0])
    st.expect(key_id == "nacl", f"k={key_id}, expected nacl (the file name without .pub)")
    facts = json.loads(SealedBox(secret).decrypt(box))
    st.expect(facts["client_address"] == "127.0.0.1" and facts["helo"] == "pynacl.example" and
              facts["client_port"] == 54321 and facts["queue_id"] is None, f"facts {facts}")
    st.expect(len(facts) == 10, f"keys {list(facts)}")

    # One bit changed anywhere in the box: PyNaCl refuses, and so does cppmilter-unseal.
    for at in (0, len(box) // 2, len(box) - 1):
        changed = bytearray(box)
        changed[at] ^= 0x01
        try:
            SealedBox(secret).decrypt(bytes(changed))
            raise st.Failure(f"PyNaCl opened the box with byte {at} changed")
        except CryptoError:
            pass
        tampered_value = f"v=1; k=nacl; d={base64.b64encode(bytes(changed)).decode()}"
        r = st.run([unseal, "--secret-key", tmp / "nacl.key"],
                   stdin=st.with_value(delivered, values[0], tampered_value))
        st.expect(r.returncode == 1 and b"does not open" in r.stderr and r.stdout == b"",
                  f"cppmilter-unseal on byte {at} changed: exit {r.returncode} {r.stderr!r}")
    # And cppmilter-unseal reads the PyNaCl key file and the untouched value the same way.
    r = st.run([unseal, "--secret-key", tmp / "nacl.key"], stdin=delivered)
    st.expect(r.returncode == 0 and json.loads(r.stdout) == facts, f"cppmilter-unseal: {r.returncode} {r.stdout!r}")
    return f"SealedBox opened it: {json.dumps(facts)[:70]}...; 3 changed bytes refused by both"


def check_unseal_opens_what_pynacl_sealed(_seal, unseal, _send, tmp):
    r = st.run([unseal, "--generate-keypair", tmp / "ours"])
    st.expect(r.returncode == 0, f"--generate-keypair: {r.stderr!r}")
    public = PublicKey(base64.b64decode((tmp / "ours.pub").read_text().strip(), validate=True))
    secret = PrivateKey(base64.b64decode((tmp / "ours.key").read_text().strip(), validate=True))
    st.expect(bytes(secret.public_key) == bytes(public), "ours.key does not belong to ours.pub")
    plain = {"client_address": "198.51.100.4", "note": "sealed by PyNaCl"}
    box = base64.b64encode(SealedBox(public).encrypt(json.dumps(plain).encode())).decode()
    folded = "\n ".join(box[i:i + 64] for i in range(0, len(box), 64))
    msg = f"From: <a@example.org>\nX-Sealed-Info: v=1; k=ours;\n d={folded}\nSubject: x\n\nbody\n".encode()
    r = st.run([unseal, "--secret-key", tmp / "ours.key"], stdin=msg)
    st.expect(r.returncode == 0 and json.loads(r.stdout) == plain, f"cppmilter-unseal: {r.returncode} {r.stdout!r}")
    return "cppmilter-unseal opened a PyNaCl SealedBox to its generated key"


def main(argv):
    if len(argv) != 4:
        print(__doc__)
        return 64
    seal, unseal, send = (Path(a).resolve() for a in argv[1:])
    failed = 0
    checks = [check_pynacl_opens_what_seal_sealed, check_unseal_opens_what_pynacl_sealed]
    for check in checks:
        with tempfile.TemporaryDirectory(prefix="seal-pynacl-") as t:
            try:
                print(f"PASS {check.__name__[6:]}: {check(seal, unseal, send, Path(t))}")
            except (st.Failure, OSError, ValueError, KeyError, CryptoError) as e:
                failed += 1
                print(f"FAIL {check.__name__[6:]}: {type(e).__name__}: {e}")
    print(f"seal_pynacl: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
