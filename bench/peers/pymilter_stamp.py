#!/usr/bin/python3
"""pymilter_stamp: the "stamp" benchmark milter written against pymilter
(Debian's python3-milter), the way a typical user writes it: every callback
continues, end of message adds "X-Bench: 1".

Usage: pymilter_stamp.py PORT | unix:/PATH
  PORT: listens on TCP 127.0.0.1:PORT only ("inet:PORT@127.0.0.1");
  unix:/PATH: listens on that UNIX stream socket only (a stale socket file
  there is removed first, and the file again on SIGTERM/SIGINT).
"""
import os
import resource
import signal
import stat
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
        sys.stderr.write("usage: %s PORT | unix:/PATH\n" % sys.argv[0])
        return 64
    unix_path = None
    if sys.argv[1].startswith("unix:"):
        unix_path = sys.argv[1][len("unix:"):]
        if not unix_path.startswith("/"):
            sys.stderr.write("%s: bad socket path %r (must be absolute)\n"
                             % (sys.argv[0], unix_path))
            return 64
        # libmilter's limit: the path and its NUL must fit sun_path (108
        # bytes) with a byte to spare.
        if len(os.fsencode(unix_path)) + 1 >= 108:
            sys.stderr.write("%s: socket path %r too long\n"
                             % (sys.argv[0], unix_path))
            return 64
        # Remove a stale socket file (runmilter's rmsock would too), but
        # nothing else that happens to be there.
        try:
            if not stat.S_ISSOCK(os.stat(unix_path).st_mode):
                sys.stderr.write("%s: %s exists and is not a socket\n"
                                 % (sys.argv[0], unix_path))
                return 1
            os.unlink(unix_path)
        except FileNotFoundError:
            pass
        conn = "unix:" + unix_path
    else:
        try:
            port = int(sys.argv[1])
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            sys.stderr.write("%s: bad port %r\n" % (sys.argv[0], sys.argv[1]))
            return 64
        conn = "inet:%d@127.0.0.1" % port

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
            Milter.runmilter("pymilter_stamp", conn, timeout=30)
        except Exception as e:
            sys.stderr.write("pymilter_stamp: %s\n" % e)
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)

    threading.Thread(target=run, daemon=True).start()
    signal.sigwait(stop)
    # Exit at once: libmilter's threads may still hold open sessions. On
    # this path libmilter does not remove its socket file: do it here.
    if unix_path is not None:
        try:
            os.unlink(unix_path)
        except OSError:
            pass
    os._exit(0)

if __name__ == '__main__':
    sys.exit(main())
