#!/usr/bin/python3
"""pymilter_stamp: the "stamp" benchmark milter written against pymilter
(Debian's python3-milter), the way a typical user writes it: every callback
continues, end of message adds "X-Bench: 1".

Usage: pymilter_stamp.py PORT   (listens on 127.0.0.1:PORT only)
"""
import os
import resource
import signal
import sys
import threading

import Milter


class Stamp(Milter.Base):
    def connect(self, hostname, family, hostaddr):
        return Milter.CONTINUE

    def hello(self, hostname):
        return Milter.CONTINUE

    def envfrom(self, f, *args):
        return Milter.CONTINUE

    def envrcpt(self, to, *args):
        return Milter.CONTINUE

    def data(self):
        return Milter.CONTINUE

    def header(self, field, value):
        return Milter.CONTINUE

    def eoh(self):
        return Milter.CONTINUE

    def body(self, chunk):
        return Milter.CONTINUE

    def unknown(self, cmd):
        return Milter.CONTINUE

    def eom(self):
        self.addheader('X-Bench', '1')
        return Milter.CONTINUE

    def abort(self):
        return Milter.CONTINUE

    def close(self):
        return Milter.CONTINUE


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s PORT\n" % sys.argv[0])
        return 64
    try:
        port = int(sys.argv[1])
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        sys.stderr.write("%s: bad port %r\n" % (sys.argv[0], sys.argv[1]))
        return 64

    # Allow many concurrent connections: soft fd limit up to the hard one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    Milter.factory = Stamp
    Milter.set_flags(Milter.ADDHDRS)
    Milter.setbacklog(4096)  # as the other peers (runmilter leaves the default)

    # runmilter (libmilter's smfi_main) runs in a thread and the main thread
    # waits for SIGTERM/SIGINT: kill(2) offers a process-directed signal to
    # the main thread first, so it lands here and not in libmilter's signal
    # thread, whose stop only takes effect at the listener's next poll
    # timeout (about 5 s). The milter itself runs unchanged.
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # inherited by all threads

    def run():
        try:
            Milter.runmilter("pymilter_stamp", "inet:%d@127.0.0.1" % port,
                             timeout=30)
        except Exception as e:
            sys.stderr.write("pymilter_stamp: %s\n" % e)
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)

    threading.Thread(target=run, daemon=True).start()
    signal.sigwait(stop)
    # Exit at once: libmilter's threads may still hold open sessions.
    os._exit(0)

if __name__ == '__main__':
    sys.exit(main())
