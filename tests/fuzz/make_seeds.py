#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/{filter_side,mta_side}/).

Seeds come from the real Postfix captures in tests/data/captures (the MTA's packets for
filter_side, the filter's packets for mta_side) and from hand-made sessions that cover every
command and reply kind, including malformed packets. Each target reads a few selector bytes
before the stream and an optional segment after it: see the comments at the top of
fuzz_filter_side.cpp and fuzz_mta_side.cpp, which this script must match.

Only files named seed-* are written (and stale seed-* files removed); crash reproducers and
inputs kept from fuzzing runs live next to them under other names and are left alone.

Usage: python3 tests/fuzz/make_seeds.py
"""

import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
CAPTURES = HERE.parent / "data" / "captures"
CORPUS = HERE / "corpus"

MAX_BODY_CHUNK = 2048   # captures' BODY packets are cut to this size ...
MAX_BODY_PACKETS = 2    # ... and to this many per capture, so no seed is large


# ---------------------------------------------------------------- wire format

def pkt(letter, payload=b""):
    body = letter.encode("latin-1") + payload
    return struct.pack(">I", len(body)) + body


def z(*strings):
    """NUL-terminated strings, concatenated."""
    return b"".join(s + b"\0" for s in strings)


def optneg(version=6, actions=0x1FF, protocol=0x1FFFFF, extra=b""):
    return pkt("O", struct.pack(">III", version, actions, protocol) + extra)


def macro(stage, *pairs):
    return pkt("D", stage.encode() + z(*pairs))


def connect(host, family, port=0, address=b""):
    payload = z(host) + family.encode()
    if family != "U":
        payload += struct.pack(">H", port) + z(address)
    return pkt("C", payload)


def helo(name):
    return pkt("H", z(name))


def mail(address, *args):
    return pkt("M", z(address, *args))


def rcpt(address, *args):
    return pkt("R", z(address, *args))


def header(name, value):
    return pkt("L", z(name, value))


EOH, DATA, ABORT, QUIT, QUIT_NC = pkt("N"), pkt("T"), pkt("A"), pkt("Q"), pkt("K")


def body(chunk):
    return pkt("B", chunk)


def eob(chunk=b""):
    return pkt("E", chunk)


def unknown(line):
    return pkt("U", z(line))


# ---------------------------------------------------------------- target input layouts

# Answer script codes of fuzz_filter_side.cpp (reply_from()): bits 0-4 kind, bits 5-7 values.
ANSWER = {"c": 0, "a": 1, "r": 2, "t": 3, "d": 4, "s": 5, "4": 6, "p": 7, "y": 8, "h": 9,
          "i": 10, "m": 11, "e": 12, "+": 13, "2": 14, "-": 15, "b": 16, "q": 17, "O": 18}
UNANSWERED = 19


def ans(kind, param=0):
    code = UNANSWERED if kind is None else ANSWER[kind]
    return bytes([code | (param << 5)])


NR_ALL = 0x000FF000 | 0x80          # every NR_* bit
SKIP, RCPT_REJ, LEADSPC = 0x400, 0x800, 0x100000
MDS_256K, MDS_1M = 0x10000000, 0x20000000
SETSYMLIST = 0x100


def filter_input(stream, split=0, actions=0, protocol=0, lists=0, small=False, script=b""):
    """fuzz_filter_side input: 7 selector bytes, the MTA stream, the answer script."""
    assert len(script) <= 255
    p4 = (protocol >> 16) & 0x1F
    p4 |= 0x20 if protocol & MDS_256K else 0
    p4 |= 0x40 if protocol & MDS_1M else 0
    p4 |= 0x80 if actions & SETSYMLIST else 0
    head = bytes([split, actions & 0xFF, protocol & 0xFF, (protocol >> 8) & 0xFF, p4,
                  (lists & 0x7F) | (0x80 if small else 0), len(script)])
    return head + stream + script


def mta_input(stream, split=0, payload=0, smtp=b""):
    """fuzz_mta_side input: 3 selector bytes, the filter stream, the SMTP text segment."""
    assert len(smtp) <= 255
    return bytes([split, payload, len(smtp)]) + stream + smtp


def smtp_segment(code, enhanced, text):
    """The segment format_smtp_reply() is called with (fuzz_mta_side.cpp)."""
    if 400 <= code < 600:
        hi, lo = 0, code - 400
    else:
        hi, lo = 0x80 | (code >> 8), code & 0xFF
    return bytes([hi, lo, len(enhanced)]) + enhanced + text


# ---------------------------------------------------------------- captures

def read_capture(path):
    """[(direction, letter, payload)] of one capture file."""
    packets = []
    for line in path.read_text().splitlines():
        if not line or line[0] not in "<>":
            continue
        raw = bytes.fromhex(line[1:].strip())
        (length,) = struct.unpack(">I", raw[:4])
        assert length == len(raw) - 4, f"{path}: bad length in {line[:20]}"
        packets.append((line[0], chr(raw[4]), raw[5:]))
    return packets


HOOKED = set("CHMRTLNBEU")  # commands the session hands to a hook (and that get an answer)


def capture_seeds(path, split):
    packets = read_capture(path)
    stream, replies, script = b"", b"", b""
    body_packets = 0
    actions = protocol = lists = 0
    i = 0
    while i < len(packets):
        direction, letter, payload = packets[i]
        i += 1
        if direction == "<":
            replies += pkt(letter, payload)
            if letter == "O":  # ask for what the captured filter asked for
                actions, protocol = struct.unpack(">II", payload[4:12])
                rest = payload[12:]
                while rest:
                    (stage,) = struct.unpack(">I", rest[:4])
                    end = rest.index(b"\0", 4)
                    lists |= 1 << stage
                    rest = rest[end + 1:]
            continue
        if letter == "B":
            body_packets += 1
            if body_packets > MAX_BODY_PACKETS:
                continue
            payload = payload[:MAX_BODY_CHUNK]
        stream += pkt(letter, payload)
        if letter in HOOKED:
            # Answer as the captured filter did; where it did not (NR), CONTINUE.
            answers = b""
            while i < len(packets) and packets[i][0] == "<":
                answers += ans(packets[i][1])
                replies += pkt(packets[i][1], packets[i][2])
                i += 1
            script += answers or ans("c")
    filter_seed = filter_input(stream, split=split, actions=actions, protocol=protocol,
                               lists=lists, script=script[:255])
    mta_seed = mta_input(replies, split=split)
    return filter_seed, mta_seed


# ---------------------------------------------------------------- hand-made: filter side

def filter_hand_made():
    seeds = {}
    all_actions = 0x1FF
    connect4 = connect(b"client.example", "4", 25, b"192.0.2.1")

    # Every command in one session; every reply kind at end of message.
    stream = (optneg() + macro("C", b"j", b"mx.example", b"{daemon_name}", b"mx") + connect4 +
              macro("H") + helo(b"client.example") +
              macro("M", b"{mail_addr}", b"a@b", b"i", b"ABC123") + mail(b"<a@b>", b"SIZE=10", b"BODY=8BITMIME") +
              macro("R", b"{rcpt_addr}", b"c@d") + rcpt(b"<bad@d>") + rcpt(b"<c@d>", b"NOTIFY=NEVER") +
              DATA + header(b"From", b"a <a@b>") + header(b"X-Folded", b"first\n\tsecond") + EOH +
              body(b"line 1\r\n") + body(b"line 2\r\n") + macro("E", b"{msg_id}", b"<m@b>") + eob() +
              ABORT + unknown(b"XFOO") + QUIT_NC + connect(b"[::1]", "6", 2525, b"::1") + helo(b"h") +
              mail(b"<>") + QUIT)
    script = (ans("c") * 4 + ans("r") + ans("c") * 5 + ans("s") +
              ans("p") + ans("h") + ans("i", 1) + ans("m", 1) + ans("e", 1) + ans("+") + ans("2", 1) +
              ans("-") + ans("b", 1) + ans("b", 3) + ans("q") + ans("y") +
              ans("t") + ans("c") * 3)
    seeds["all_commands_all_replies"] = filter_input(stream, split=0, actions=all_actions,
                                                     protocol=SKIP | RCPT_REJ | LEADSPC, lists=0x7F,
                                                     script=script)
    # The same, cut in every chunk pattern.
    for mode in range(1, 8):
        seeds[f"all_commands_split{mode}"] = filter_input(stream, split=mode | (mode << 3), actions=all_actions,
                                                          protocol=SKIP, lists=0x25, script=script)

    # Every answer refused or accepted at every command, by the parameter values.
    bad_script = b"".join(ans(k, p) for k in ("y", "h", "e", "+", "q", "b", "d", "s", "O") for p in (4, 5, 6, 7))
    seeds["refused_answers"] = filter_input(stream, split=0x0C, actions=all_actions, protocol=SKIP,
                                            script=bad_script[:255])
    # Modifications not negotiated.
    seeds["not_negotiated"] = filter_input(stream, actions=0x01, script=script)

    # Address families, QUIT_NC reuse.
    seeds["families"] = filter_input(
        optneg() + connect(b"localhost", "L", 0, b"/var/run/sock") + QUIT_NC + connect(b"unknown", "U") +
        QUIT_NC + connect(b"[2001:db8::1]", "6", 65535, b"2001:db8::1") + helo(b"x") + QUIT, split=0x01)

    # NO* bits: the MTA leaves out CONNECT, HELO, MAIL ...; the first command opens the message.
    seeds["no_events"] = filter_input(
        optneg() + macro("C", b"j", b"x") + macro("H") + macro("M", b"i", b"Q1") + macro("R") +
        DATA + eob() + ABORT + macro("M", b"i", b"Q2") + DATA + eob() + QUIT,
        protocol=0x7F | 0x200, script=ans("c") + ans("a") + ans("c") + ans("d"))

    # NR for everything: answers other than CONTINUE are refused until end of message.
    seeds["no_reply"] = filter_input(
        optneg() + connect4 + helo(b"h") + mail(b"<a@b>") + rcpt(b"<c@d>") + DATA +
        header(b"Subject", b" hi") + EOH + body(b"x") + eob() + ABORT + QUIT,
        actions=0x01, protocol=NR_ALL | SKIP | LEADSPC,
        script=ans("r") + ans("c") + ans(None) + ans("t") + ans("c") * 6 + ans("s") + ans("h") + ans("a"))

    # Unanswered commands and out-of-order sequences.
    seeds["out_of_order"] = filter_input(
        optneg() + connect4 + helo(b"h") + ABORT + helo(b"h2") + rcpt(b"<x>") + mail(b"<a>") + eob() +
        rcpt(b"<late>") + mail(b"<a>") + mail(b"<b>") + DATA + DATA + EOH + header(b"a", b"b") + body(b"") +
        eob() + body(b"late") + ABORT + ABORT + connect4 + optneg() + QUIT + helo(b"after quit") +
        optneg() + connect4 + QUIT,
        script=ans("c") + ans(None) + ans("c") * 30)

    # Negotiation corner cases: legacy zero masks, old versions, actions not offered.
    seeds["legacy_optneg"] = filter_input(optneg(6, 0, 0) + connect4 + QUIT, actions=0x0F, protocol=0x3F)
    seeds["version2_optneg"] = filter_input(optneg(2, 0x3F, 0x7F) + connect4 + unknown(b"X") + DATA + QUIT,
                                            actions=0x40)
    seeds["version3_optneg"] = filter_input(optneg(3, 0x1FF, 0x1FFFFF, extra=b"future fields") + connect4 +
                                            unknown(b"X") + QUIT, actions=0x3F, protocol=MDS_1M | MDS_256K)
    seeds["version1_optneg"] = filter_input(optneg(1) + optneg() + QUIT)
    seeds["symlist_not_offered"] = filter_input(optneg(6, 0x3F, 0x1FFFFF) + QUIT, actions=0x01, lists=0x7F)

    # Macros of every letter, looked up afterwards.
    macros = optneg()
    for stage in "CHMRTLNBEUXD\x00":
        macros += macro(stage, b"j", b"v-" + stage.encode(), b"{j}", b"braced", b"{rcpt_addr}", b"r", b"{}", b"", b"}", b"x")
    macros += macro("C") + connect4 + macro("M", b"{mail_addr}", b"a") + mail(b"<a>") + QUIT
    seeds["macros"] = filter_input(macros, split=0x03)

    # BODYEOB with a chunk; empty BODY; a big header value.
    seeds["eob_chunk"] = filter_input(
        optneg() + connect4 + mail(b"<a>") + rcpt(b"<b>") + header(b"X-Big", b"v" * 3000) + body(b"") +
        eob(b"last chunk\r\n") + QUIT, split=0x1E, actions=0x02, script=ans("c") * 6 + ans("b", 7) + ans("a"))

    # Malformed packets, each after a valid OPTNEG (and then something valid, if framing survives).
    tail = connect4 + QUIT
    malformed = {
        "zero_length": b"\0\0\0\0" + tail,
        "too_large": b"\xff\xff\xff\xffB" + tail,
        "too_large_64k": struct.pack(">I", 0x10001) + b"B" + b"x" * 16,
        "missing_nul": pkt("H", b"no nul") + tail,
        "unknown_letter": pkt("Z", b"x") + pkt("\x00") + pkt("\xff", b"\0") + tail,
        "truncated_optneg": pkt("O", b"\0\0\0\x06\0") + tail,
        "bad_family": pkt("C", z(b"h") + b"X" + b"\0\x19" + z(b"1.2.3.4")) + tail,
        "inet_without_port": pkt("C", z(b"h") + b"4\0") + tail,
        "inet_without_nul": pkt("C", z(b"h") + b"4\0\x19" + b"1.2.3.4") + tail,
        "unknown_family_trailing": pkt("C", z(b"h") + b"Ujunk") + tail,
        "macro_odd": pkt("D", b"C" + z(b"name")) + pkt("D", b"Cname\0value") + pkt("D") + tail,
        "trailing_payload": connect4 + mail(b"<a>") + pkt("T", b"x") + pkt("N", b"x") + pkt("A", b"x") +
                            pkt("K", b"x") + pkt("Q", b"x") + QUIT,
        "header_one_string": connect4 + mail(b"<a>") + pkt("L", z(b"name")) + pkt("L", z(b"a", b"b", b"c")) + QUIT,
        "esmtp_missing_nul": connect4 + pkt("M", z(b"<a>") + b"SIZE=1") + pkt("R", b"<b>") + QUIT,
        "empty_payloads": pkt("H") + pkt("M") + pkt("R") + pkt("C") + pkt("L") + pkt("U") + pkt("O") + tail,
        "partial_packet": connect4 + b"\0\0\0\x10Hab",
        "partial_length": connect4 + b"\0\0",
    }
    for name, rest in malformed.items():
        seeds[f"malformed_{name}"] = filter_input(optneg() + rest, small=name == "too_large_64k")
    return seeds


# ---------------------------------------------------------------- hand-made: MTA side

def mta_hand_made():
    seeds = {}
    optneg_reply = pkt("O", struct.pack(">III", 6, 0x1FF, 0x1FFC80) +
                       struct.pack(">I", 0) + z(b"{client_addr} j") + struct.pack(">I", 2) + z(b"{mail_addr}") +
                       struct.pack(">I", 3) + z(b"") + struct.pack(">I", 5) + z(b"i {msg_id}") +
                       struct.pack(">I", 0) + z(b"again"))
    every = (optneg_reply + b"".join(pkt(c) for c in "cartds4p") + pkt("y", z(b"550 5.7.1 no")) +
             pkt("y", z(b"421-4.3.2 a\r\n421 4.3.2 b 100%%")) +
             pkt("h", z(b"X-A", b"v")) + pkt("h", z(b"X-B", b"")) + pkt("i", struct.pack(">I", 0) + z(b"X-C", b" c")) +
             pkt("m", struct.pack(">I", 1) + z(b"Subject", b"")) + pkt("e", z(b"<a@b>")) +
             pkt("e", z(b"<a@b>", b"SIZE=1")) + pkt("e", z(b"<a@b>", b"")) + pkt("+", z(b"<c@d>")) +
             pkt("2", z(b"<c@d>")) + pkt("2", z(b"<c@d>", b"NOTIFY=NEVER")) + pkt("-", z(b"<e@f>")) +
             pkt("b") + pkt("b", b"new body\r\n\0binary") + pkt("q", z(b"held")))
    seeds["every_reply"] = mta_input(every)
    for mode in range(1, 8):
        seeds[f"every_reply_split{mode}"] = mta_input(every, split=mode | (((mode * 5) & 31) << 3), payload=mode & 3)

    malformed = {
        "zero_length": b"\0\0\0\0" + pkt("c"),
        "too_large": b"\xff\xff\xff\xffb" + pkt("c"),
        "unknown_letters": pkt("Z") + pkt("f") + pkt("l", z(b"x")) + pkt("\x00") + pkt("c"),
        "verdict_with_payload": pkt("c", b"x") + pkt("a", b"\0") + pkt("c"),
        "replycode_invalid": pkt("y", z(b"250 ok")) + pkt("y", b"550 no nul") + pkt("y", z(b"550 x") + b"junk") +
                             pkt("y", z(b"550 100%")) + pkt("y", z(b"550-a\r\n551 b")) + pkt("y", z(b"550 5.7.1 a\nb")) +
                             pkt("y", z(b"550 4.7.1 class")) + pkt("y") + pkt("c"),
        "header_fields": pkt("h", z(b"", b"v")) + pkt("h", z(b"X")) + pkt("h", b"X\0v") + pkt("i", b"\0\0") +
                         pkt("i", struct.pack(">I", 5)) + pkt("m", struct.pack(">I", 1) + z(b"", b"x")) +
                         pkt("h", z(b"a", b"b", b"c")) + pkt("c"),
        "optneg_bad": pkt("O", struct.pack(">III", 1, 0, 0)) + pkt("O", b"\0\0\0\x06\0\0") +
                      pkt("O", struct.pack(">IIII", 6, 0, 0, 9) + z(b"x")) +
                      pkt("O", struct.pack(">IIII", 6, 0, 0, 1) + b"no nul") +
                      pkt("O", struct.pack(">IIII", 6, 0, 0, 1)) + pkt("O", struct.pack(">III", 6, 0, 0) + b"\0\0") + pkt("c"),
        "addresses": pkt("+", z(b"")) + pkt("+", z(b"<a>", b"extra")) + pkt("+", b"<a>") + pkt("-", z(b"")) +
                     pkt("e", z(b"")) + pkt("e", z(b"<a>") + b"args") + pkt("2", z(b"<a>", b"x", b"y")) + pkt("c"),
        "quarantine": pkt("q", z(b"")) + pkt("q", b"reason") + pkt("q", z(b"a", b"b")) + pkt("q") + pkt("c"),
        "partial_packet": pkt("c") + b"\0\0\0\x09h",
        "too_large_small_limit": pkt("b", b"x" * 400) + pkt("c"),
    }
    for name, stream in malformed.items():
        seeds[f"malformed_{name}"] = mta_input(stream, payload=3 if name == "too_large_small_limit" else 0)

    # format_smtp_reply() / validate_smtp_reply() inputs.
    texts = {
        "simple": (550, b"5.7.1", b"rejected"),
        "multiline": (451, b"4.7.1", b"first\nsecond\r\nthird"),
        "no_enhanced": (421, b"", b"going away"),
        "percent": (550, b"", b"100% sure %%"),
        "empty_text": (554, b"5.0.0", b""),
        "trailing_newline": (550, b"", b"a\n"),
        "class_mismatch": (550, b"4.7.1", b"x"),
        "bad_enhanced": (550, b"5.7", b"x"),
        "long_enhanced": (550, b"5.123.456", b"x"),
        "bare_cr": (550, b"", b"a\rb"),
        "nul": (550, b"", b"a\0b"),
        "code_600": (600, b"", b"x"),
        "code_399": (399, b"", b"x"),
        "code_huge": (0x7FFF, b"", b"x"),
        "many_lines": (550, b"", b"\n" * 33),
        "long_line": (550, b"", b"x" * 240),
        "wire_text": (550, b"", b"550-5.7.1 a\r\n550 5.7.1 b"),
    }
    for name, (code, enhanced, text) in texts.items():
        seeds[f"smtp_{name}"] = mta_input(pkt("c"), smtp=smtp_segment(code, enhanced, text))
    return seeds


# ---------------------------------------------------------------- output

def write(side, seeds):
    directory = CORPUS / side
    directory.mkdir(parents=True, exist_ok=True)
    names = set()
    for name, data in sorted(seeds.items()):
        assert len(data) <= 20 * 1024, f"{side}/{name} is {len(data)} bytes"
        path = directory / f"seed-{name}"
        path.write_bytes(data)
        names.add(path.name)
    for stale in directory.glob("seed-*"):
        if stale.name not in names:
            stale.unlink()
    total = sum(len(d) for d in seeds.values())
    print(f"{directory.relative_to(HERE.parent.parent)}: {len(seeds)} seeds, {total} bytes")


def main():
    splits = [0x00, 0x01, 0x0A, 0x13, 0x24, 0x3D, 0x06, 0x47, 0x05]
    filter_seeds, mta_seeds = filter_hand_made(), mta_hand_made()
    for profile in ("plain", "nr"):
        for i, path in enumerate(sorted((CAPTURES / profile).glob("*.txt"))):
            f, m = capture_seeds(path, splits[i % len(splits)])
            filter_seeds[f"capture_{profile}_{path.stem}"] = f
            mta_seeds[f"capture_{profile}_{path.stem}"] = m
    write("filter_side", filter_seeds)
    write("mta_side", mta_seeds)


if __name__ == "__main__":
    main()
