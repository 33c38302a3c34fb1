#!/usr/bin/env python3
"""A milter restarted under load with socket activation loses no message.

What systemd does for cppmilter-<name>.socket/.service, without systemd: this script holds
the listening UNIX socket itself, starts the milter on it (fd 3, LISTEN_FDS=1, LISTEN_PID,
no --listen), keeps MTA clients sending messages, and restarts the milter several times as
`systemctl restart` does (SIGTERM, wait for the exit, start again on the same socket).
Every message must get its right verdict: sender_block --block blocked.example refuses
mail from blocked.example with 550 at MAIL FROM and accepts the rest.

Two cases in each restart are made to happen, not left to timing:
  * a connection in the middle of a message when SIGTERM arrives is finished by the old
    process (it stops accepting, serves what it has);
  * a connection made while no milter runs at all waits in the socket's backlog and is
    served by the new process.

usage: restart_under_load.py SENDER_BLOCK_BINARY [RESTARTS]
"""
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

RESTARTS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
LOAD_CLIENTS = 4
MESSAGES_BETWEEN_RESTARTS = 40  # finished by the load clients after each start, before the next stop
BOUND = 60  # seconds: a bound on every wait, never a measured time

# Protocol bits (docs/protocol.md, PROTOCOL.md §2.4): NO* = do not send, NR* = no reply.
NOCONNECT, NOHELO, NOMAIL, NORCPT, NOBODY, NOHDRS, NOEOH = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40
NR_CONN, NR_HELO, NR_MAIL, NR_RCPT, NR_DATA, NR_EOH, NR_BODY = 0x1000, 0x2000, 0x4000, 0x8000, 0x10000, 0x40000, 0x80000
NR_HDR, NODATA = 0x80, 0x200
OFFERED_PROTOCOL = 0x001FFFFF  # every NO*/NR* bit, as Postfix 3 offers
OFFERED_ACTIONS = 0x1FF
FINAL = set(b"acrtyd")  # accept, continue, reject, tempfail, replycode, discard


class MtaClient:
    """The MTA side of one milter connection: just enough of the protocol for sender_block."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(BOUND)
        self.sock.connect(path)  # returns once queued in the listener's backlog
        self.protocol = None

    def send(self, letter, payload=b""):
        self.sock.sendall(struct.pack(">I", 1 + len(payload)) + letter + payload)

    def read_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the milter closed the connection")
            data += chunk
        return data

    def reply(self):
        (length,) = struct.unpack(">I", self.read_exact(4))
        packet = self.read_exact(length)
        return packet[:1], packet[1:]

    def final_reply(self):
        while True:
            letter, payload = self.reply()
            if letter[0] in FINAL:
                return letter, payload
            # progress and end-of-message modifications come before the verdict

    def start_negotiation(self):
        self.send(b"O", struct.pack(">III", 6, OFFERED_ACTIONS, OFFERED_PROTOCOL))

    def finish_negotiation(self):
        letter, payload = self.reply()
        if letter != b"O":
            raise ConnectionError(f"negotiation answered with {letter!r}")
        _, _, self.protocol = struct.unpack(">III", payload[:12])

    def step(self, letter, payload, no_bit, no_reply_bit):
        """Sends a command unless the milter asked not to get it; its verdict, or None."""
        if self.protocol & no_bit:
            return None
        self.send(letter, payload)
        if self.protocol & no_reply_bit:
            return None
        return self.final_reply()

    def message_start(self, sender):
        """CONNECT, HELO, MAIL; the verdict if one came (a reject), else None."""
        for letter, payload, no_bit, nr_bit in (
            (b"C", b"client.example\x004" + struct.pack(">H", 25) + b"192.0.2.1\x00", NOCONNECT, NR_CONN),
            (b"H", b"client.example\x00", NOHELO, NR_HELO),
            (b"M", b"<" + sender.encode() + b">\x00", NOMAIL, NR_MAIL),
        ):
            answer = self.step(letter, payload, no_bit, nr_bit)
            if answer and answer[0] != b"c":
                return answer
        return None

    def message_end(self):
        """RCPT .. end of body: the final verdict."""
        for letter, payload, no_bit, nr_bit in (
            (b"R", b"<rcpt@example.org>\x00", NORCPT, NR_RCPT),
            (b"T", b"", NODATA, NR_DATA),
            (b"L", b"Subject\x00restart test\x00", NOHDRS, NR_HDR),
            (b"N", b"", NOEOH, NR_EOH),
            (b"B", b"hello\r\n", NOBODY, NR_BODY),
        ):
            answer = self.step(letter, payload, no_bit, nr_bit)
            if answer and answer[0] != b"c":
                return answer
        self.send(b"E")
        return self.final_reply()

    def close(self):
        try:
            self.send(b"Q")
        finally:
            self.sock.close()


def expected(sender):
    return "reject" if sender.endswith("@blocked.example") else "accept"


def verdict_name(answer):
    letter, payload = answer
    if letter == b"y" and payload.startswith(b"550 5.7.1"):
        return "reject"
    if letter in (b"a", b"c"):
        return "accept"
    return f"{letter!r} {payload!r}"


def one_message(client, sender):
    answer = client.message_start(sender)
    if answer is None:
        answer = client.message_end()
    else:
        client.send(b"A")  # ABORT: the MTA drops the refused transaction
    return verdict_name(answer)


class Milter:
    """The service: started on the held socket as systemd starts it."""

    def __init__(self, binary, listen_fd, log):
        self.binary, self.listen_fd, self.log = binary, listen_fd, log
        self.process = None

    def start(self):
        # A launcher puts the socket at fd 3 and sets LISTEN_PID to its own pid, which exec keeps.
        launcher = (
            "import os, sys\n"
            "fd = int(sys.argv[1])\n"
            "if fd != 3:\n"
            "    os.dup2(fd, 3)\n"
            "    os.close(fd)\n"
            "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1')\n"
            "os.environ.pop('LISTEN_FDNAMES', None)\n"
            "os.execv(sys.argv[2], sys.argv[2:])\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", launcher, str(self.listen_fd), self.binary,
             "--block", "blocked.example", "--threads", "2", "--log-level", "info"],
            pass_fds=(self.listen_fd,), stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=BOUND)
        if status != 0:
            raise AssertionError(f"the milter exited with {status} after SIGTERM")


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="cppmilter-restart-")
    path = os.path.join(work, "milter.sock")
    log_path = os.path.join(work, "milter.log")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(128)
    listener.set_inheritable(True)

    lock = threading.Lock()
    done = threading.Event()
    results = {"messages": 0, "wrong": [], "errors": []}
    progress = threading.Condition(lock)

    def load(seed):
        rng = random.Random(seed)
        n = 0
        while not done.is_set():
            try:
                client = MtaClient(path)
                client.start_negotiation()
                client.finish_negotiation()
                for _ in range(rng.randint(1, 3)):  # Postfix reuses a connection for a session
                    n += 1
                    sender = f"s{seed}.{n}@{rng.choice(['blocked.example', 'ok.example'])}"
                    got = one_message(client, sender)
                    with progress:
                        results["messages"] += 1
                        if got != expected(sender):
                            results["wrong"].append((sender, got))
                        progress.notify_all()
                client.close()
            except Exception as e:  # a lost connection is a lost message
                with progress:
                    results["errors"].append(f"client {seed}: {type(e).__name__}: {e}")
                    progress.notify_all()
                return

    def wait_for_messages(count):
        with progress:
            target = results["messages"] + count
            while results["messages"] < target and not results["errors"]:
                if milter.process.poll() is not None:
                    raise AssertionError(f"the milter exited with {milter.process.returncode}")
                # woken by every message; the timeout only rechecks that the milter still runs
                progress.wait(timeout=1)
                if time.monotonic() > deadline:
                    raise AssertionError(f"no progress: {results['messages']} messages, want {target}")

    deadline = time.monotonic() + 300  # the whole run, a bound only
    with open(log_path, "wb") as log:
        milter = Milter(binary, listener.fileno(), log)
        milter.start()
        workers = [threading.Thread(target=load, args=(i,)) for i in range(LOAD_CLIENTS)]
        for w in workers:
            w.start()
        checked = 0
        failure = None
        try:
            wait_for_messages(MESSAGES_BETWEEN_RESTARTS)
            for restart in range(RESTARTS):
                # A message in progress when SIGTERM arrives: the old process must finish it.
                in_flight = MtaClient(path)
                in_flight.start_negotiation()
                in_flight.finish_negotiation()
                sender = f"inflight{restart}@ok.example"
                assert in_flight.message_start(sender) is None, "MAIL FROM refused"
                milter.process.send_signal(signal.SIGTERM)
                got = verdict_name(in_flight.message_end())
                assert got == "accept", f"in-flight message across SIGTERM: {got}"
                in_flight.close()
                status = milter.process.wait(timeout=BOUND)
                assert status == 0, f"the milter exited with {status} after SIGTERM"

                # No milter runs now; a connection still gets in, queued in the backlog.
                queued = MtaClient(path)
                queued.start_negotiation()
                milter.start()
                queued.finish_negotiation()
                got = one_message(queued, f"queued{restart}@blocked.example")
                assert got == "reject", f"message queued during the restart: {got}"
                queued.close()
                checked += 2
                wait_for_messages(MESSAGES_BETWEEN_RESTARTS)
        except Exception as e:
            failure = f"{type(e).__name__}: {e}"
        finally:
            done.set()
            for w in workers:
                w.join(timeout=BOUND)
            if milter.process.poll() is None:
                milter.stop()

    with open(log_path, "rb") as f:
        log_text = f.read().decode(errors="replace")
    if failure or results["errors"] or results["wrong"]:
        print("milter log:\n" + log_text)
        print("failed:", failure)
        print("errors:", *results["errors"], sep="\n  ")
        print("wrong verdicts:", *results["wrong"], sep="\n  ")
        return 1
    starts = log_text.count("listening")
    print(f"{RESTARTS} restarts, {results['messages']} load messages and {checked} placed ones, "
          f"every verdict right; the milter logged {starts} starts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
