#!/usr/bin/env python3
"""A tiny authoritative DNS responder for tests: answers TXT, A and AAAA queries from a zone
file, over UDP on 127.0.0.1 only, then exits after --lifetime seconds (or when its parent
closes stdin).

    fake_dns.py --zone FILE [--silent | --hold-until-names N] [--lifetime 60]

Prints "port N" on stdout once it listens. The zone file has lines `NAME RECORD` (as the dkim
milter's --key-records); `NAME SERVFAIL` answers SERVFAIL; a name listed several times has
several TXT records; a record longer than 255 bytes is split into several strings;
`NAME A 192.0.2.1` and `NAME AAAA 2001:db8::1` are address records instead. Names not
listed get NXDOMAIN; other query types on a listed name get NODATA. --silent reads queries and
never answers (a server that times out). --hold-until-names N keeps every answer back until
queries for N different names have arrived, then answers them all (and later ones at once):
a test proves that way that two lookups were in flight together. Python standard library only.
"""

import argparse
import ipaddress
import select
import socket
import struct
import sys
import time


def parse_name(packet, at):
    labels = []
    while True:
        length = packet[at]
        if length == 0:
            return ".".join(labels), at + 1
        if length & 0xC0:   # a query never compresses its question; refuse
            raise ValueError("compressed name in question")
        labels.append(packet[at + 1:at + 1 + length].decode("ascii", "replace"))
        at += 1 + length


def txt_rdata(record):
    data = record.encode()
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    return b"".join(bytes([len(c)]) + c for c in chunks)


def address_record(record):
    """(qtype, rdata) for "A 192.0.2.1" / "AAAA 2001:db8::1", else None (a TXT record)."""
    kind, _, text = record.partition(" ")
    try:
        if kind == "A":
            return 1, ipaddress.IPv4Address(text.strip()).packed
        if kind == "AAAA":
            return 28, ipaddress.IPv6Address(text.strip()).packed
    except ValueError:
        pass
    return None


def answer(packet, zone):
    qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1:
        return None
    name, end = parse_name(packet, 12)
    qtype, qclass = struct.unpack("!HH", packet[end:end + 4])
    question = packet[12:end + 4]
    key = name.lower().rstrip(".")
    rd = flags & 0x0100
    records = zone.get(key)
    answers = []
    if records is None:
        rcode = 3                      # NXDOMAIN
    elif records == ["SERVFAIL"]:
        rcode = 2
    else:
        rcode = 0
        for r in records:
            address = address_record(r)
            if address is None and qtype == 16:
                rtype, rdata = 16, txt_rdata(r)
            elif address is not None and address[0] == qtype:
                rtype, rdata = address
            else:
                continue
            answers.append(b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata)
    header = struct.pack("!HHHHHH", qid, 0x8400 | rd | rcode, 1, len(answers), 0, 0)
    return header + question + b"".join(answers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zone", required=True)
    ap.add_argument("--silent", action="store_true")
    ap.add_argument("--hold-until-names", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=60)
    args = ap.parse_args()
    zone = {}
    with open(args.zone, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, record = line.partition(" ")
            zone.setdefault(name.lower().rstrip("."), []).append(record.strip())
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    print(f"port {s.getsockname()[1]}", flush=True)
    deadline = time.monotonic() + args.lifetime
    held, names_seen = [], set()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([s, sys.stdin], [], [], 0.2)
        if sys.stdin in ready and not sys.stdin.buffer.read1(1):
            break           # the test that started us is gone
        if s not in ready:
            continue
        packet, peer = s.recvfrom(4096)
        if args.silent:
            continue
        try:
            reply = answer(packet, zone)
            names_seen.add(parse_name(packet, 12)[0].lower())
        except (ValueError, IndexError, struct.error):
            continue
        if reply is None:
            continue
        held.append((reply, peer))
        if len(names_seen) >= args.hold_until_names:
            for r, p in held:
                s.sendto(r, p)
            held.clear()


if __name__ == "__main__":
    main()
