#!/usr/bin/env python3
"""A policy endpoint for the webhook tests (tests/examples/webhook_test.cpp, http_test.cpp,
tests/interop/postfix_webhook.py, bench/webhook/run.sh).

    webhook_server.py [--delay-ms N] [--timeout S]

Listens on 127.0.0.1 only, on three ports: plain HTTP, HTTPS with a certificate for
127.0.0.1, localhost and policy.example.test (a name the tests' fake DNS gives 127.0.0.1), and HTTPS with a certificate for another name (wrong.invalid); both
certificates are signed by a CA made for this run with openssl in a temporary directory.
Prints one JSON line {"http": PORT, "https": PORT, "https_wrong": PORT, "ca": PATH,
"other_ca": PATH} when ready, serves one thread per connection (HTTP/1.1 keep-alive) until
stdin closes or --timeout seconds pass, then removes its directory. Python standard library
and the openssl command only.

What it answers depends on the path (the JSON document POSTed is echoed where it says so):
  /continue /accept /discard      {"action": ...}
  /reject                         reject 550 5.7.1 "no thanks"
  /tempfail                       tempfail, no code (the milter's defaults)
  /echo                           continue, with add_headers that repeat what it was sent
  /stamp                          continue, adding X-Bench: 1 (after --delay-ms)
  /slow                           continue after 3 s
  /status500  /garbage  /big (2 MiB)  /close (no answer)  /bad-code (reject with 250)
  /headers-utf8                   continue, adding a header with a non-ASCII value
  /bad-header-name                continue, adding a header called "Bad Name"
  /peer                           {"action": "continue", "peer": "IP:PORT"} (the client's end)
  /drop                           answers, then closes the connection (as an idle timeout would)
  /policy                         reject 550 5.7.1 "blocked by policy" when the sender's local part
                                  is "blocked"; else continue, adding X-Policy: checked and
                                  X-Policy-Queue-Id (macro i) and X-Policy-Subject (decoded)
"""

import argparse
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)


def make_ca(tmp, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign", cwd=tmp)
    return os.path.join(tmp, f"{name}.pem")


def make_cert(tmp, ca, name, san):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", cwd=tmp)
    with open(os.path.join(tmp, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext", cwd=tmp)
    return os.path.join(tmp, f"{name}.pem"), os.path.join(tmp, f"{name}.key")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive
    # The header and the body are two writes: with Nagle's algorithm the body would wait for
    # the client's delayed ACK (~40 ms), which the throughput measurement would count.
    disable_nagle_algorithm = True
    delay = 0.0

    def log_message(self, *args):
        pass

    def answer(self, status, body, close=False):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        if close:
            self.close_connection = True

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        path = self.path.split("?")[0]
        if path in ("/continue", "/accept", "/discard"):
            return self.answer(200, {"action": path[1:]})
        if path == "/reject":
            return self.answer(200, {"action": "reject", "code": 550, "status": "5.7.1", "message": "no thanks"})
        if path == "/tempfail":
            return self.answer(200, {"action": "tempfail"})
        if path == "/stamp":
            if Handler.delay:
                time.sleep(Handler.delay)
            return self.answer(200, {"action": "continue", "add_headers": [{"name": "X-Bench", "value": "1"}]})
        if path == "/slow":
            time.sleep(3)
            return self.answer(200, {"action": "continue"})
        if path == "/status500":
            return self.answer(500, {"action": "continue"})
        if path == "/garbage":
            return self.answer(200, b"this is {not json")
        if path == "/big":
            return self.answer(200, b"{\"action\": \"continue\", \"pad\": \"" + b"x" * (2 * 1024 * 1024) + b"\"}")
        if path == "/close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if path == "/bad-code":
            return self.answer(200, {"action": "reject", "code": 250})
        if path == "/headers-utf8":
            return self.answer(200, {"action": "continue", "add_headers": [{"name": "X-Note", "value": "Grüße"}]})
        if path == "/bad-header-name":
            return self.answer(200, {"action": "continue", "add_headers": [{"name": "Bad Name", "value": "x"}]})
        if path == "/peer":
            host, port = self.client_address[:2]
            return self.answer(200, {"action": "continue", "peer": f"{host}:{port}"})
        if path == "/drop":
            return self.answer(200, {"action": "continue"}, close=True)
        if path == "/policy":
            doc = json.loads(raw)
            if doc["envelope"]["sender"].startswith("<blocked@"):
                return self.answer(200, {"action": "reject", "code": 550, "status": "5.7.1",
                                         "message": "blocked by policy"})
            add = [{"name": "X-Policy", "value": "checked"},
                   {"name": "X-Policy-Queue-Id", "value": doc["macros"].get("i", "none")}]
            add += [{"name": "X-Policy-Subject", "value": h["value"]} for h in doc.get("headers", [])
                    if h["name"].lower() == "subject"]
            return self.answer(200, {"action": "continue", "add_headers": add})
        if path == "/echo":
            doc = json.loads(raw)
            env = doc["envelope"]
            echo = {
                "X-Stage": doc["stage"],
                "X-Sender": env["sender"],
                "X-Sender-Args": " ".join(env["sender_args"]),
                "X-Rcpts": " ".join(r["address"] for r in env["recipients"]),
                "X-Client": f"{doc['connection']['address']} {doc['connection']['port']} {doc['connection']['name']} "
                            f"{doc['connection']['family']}",
                "X-Helo": str(doc["helo"]),
                "X-Macros": " ".join(f"{k}={v}" for k, v in sorted(doc["macros"].items())),
                "X-Auth": self.headers.get("Authorization", "none"),
                "X-Content-Type": self.headers.get("Content-Type", "none"),
            }
            for h in doc.get("headers", []):
                echo[f"X-Got-{h['name']}"] = h["value"]
                echo[f"X-Raw-{h['name']}"] = h["raw"].replace("\n", " ")
            return self.answer(200, {"action": "continue",
                                     "add_headers": [{"name": k, "value": v} for k, v in echo.items()]})
        return self.answer(404, {"error": "no such path"})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        pass  # refused handshakes and dropped connections are what some tests are about


def serve(context=None):
    server = Server(("127.0.0.1", 0), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay-ms", type=int, default=0, help="how long /stamp waits before it answers")
    ap.add_argument("--timeout", type=float, default=600, help="stop after this many seconds at most")
    args = ap.parse_args()
    Handler.delay = args.delay_ms / 1000
    tmp = tempfile.mkdtemp(prefix="webhook-server-")
    try:
        make_ca(tmp, "ca")
        make_ca(tmp, "other_ca")
        good = make_cert(tmp, "ca", "good", "IP:127.0.0.1,DNS:localhost,DNS:policy.example.test")
        wrong = make_cert(tmp, "ca", "wrong", "DNS:wrong.invalid")
        plain = serve()
        https = serve(tls_context(*good))
        https_wrong = serve(tls_context(*wrong))
        print(json.dumps({"http": plain.server_address[1], "https": https.server_address[1],
                          "https_wrong": https_wrong.server_address[1], "ca": os.path.join(tmp, "ca.pem"),
                          "other_ca": os.path.join(tmp, "other_ca.pem")}), flush=True)
        # Until the test closes our stdin (or dies, which closes it too), bounded in time.
        done = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        done.wait(args.timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
