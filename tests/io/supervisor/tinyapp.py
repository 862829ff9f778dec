"""A stdlib-only HTTP app for supervisor tests; behaviour is set by environment variables.

Listens on fd 3 when LISTEN_FDS=1 and LISTEN_PID is its own pid, else binds PORT.
Routes: /healthz, /readyz, / and /slow?ms=N.

READY_AFTER=S       /readyz answers 503 for the first S seconds
NEVER_READY=1       /readyz always answers 503
UNREADY_FILE=PATH   /readyz answers 503 while PATH exists
UNHEALTHY_FILE=PATH /healthz answers 500 while PATH exists
CRASH_AT_BOOT=N     exit with code N before serving
EXIT_AFTER=S        exit with code EXIT_CODE (default 3) after S seconds
IGNORE_SIGTERM=1    ignore SIGTERM (otherwise SIGTERM exits 0 after saying so)
SPAWN_GRANDCHILD=1  start a sleeping grandchild and print its pid
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BOOTED = time.monotonic()
ENV = os.environ


def say(*words: object) -> None:
    print(*words, flush=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self.answer(500 if exists(ENV.get("UNHEALTHY_FILE")) else 200)
        elif url.path == "/readyz":
            self.answer(200 if ready() else 503)
        elif url.path == "/slow":
            time.sleep(int(parse_qs(url.query).get("ms", ["100"])[0]) / 1000)
            self.answer(200)
        elif url.path == "/":
            self.answer(200, f"hello from {os.getpid()}\n")
        else:
            self.answer(404)

    def answer(self, status: int, body: str = "") -> None:
        data = (body or f"{status}\n").encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # probes would flood the log


def exists(path: str | None) -> bool:
    return bool(path) and os.path.exists(path)  # type: ignore[arg-type]


def ready() -> bool:
    if ENV.get("NEVER_READY") == "1" or exists(ENV.get("UNREADY_FILE")):
        return False
    return time.monotonic() - BOOTED >= float(ENV.get("READY_AFTER", "0"))


def make_server() -> ThreadingHTTPServer:
    if ENV.get("LISTEN_FDS") == "1" and ENV.get("LISTEN_PID") == str(os.getpid()):
        sock = socket.socket(fileno=3)
        server = ThreadingHTTPServer(sock.getsockname(), Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = sock
        return server
    return ThreadingHTTPServer(("127.0.0.1", int(ENV["PORT"])), Handler)


def on_sigterm(signum: int, frame: object) -> None:
    say("got SIGTERM")
    os._exit(0)


def main() -> None:
    say(f"pid={os.getpid()} argv={sys.argv[1:]} cwd={os.getcwd()}")
    say(
        " ".join(
            f"{k}={ENV.get(k)}" for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "PORT")
        )
    )
    print("tinyapp stderr line", file=sys.stderr, flush=True)
    if "CRASH_AT_BOOT" in ENV:
        os._exit(int(ENV["CRASH_AT_BOOT"]))
    ignore = ENV.get("IGNORE_SIGTERM") == "1"
    signal.signal(signal.SIGTERM, signal.SIG_IGN if ignore else on_sigterm)
    if ENV.get("SPAWN_GRANDCHILD") == "1":
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        say(f"grandchild={grandchild.pid}")
    if "EXIT_AFTER" in ENV:
        code = int(ENV.get("EXIT_CODE", "3"))
        threading.Timer(float(ENV["EXIT_AFTER"]), os._exit, (code,)).start()
    make_server().serve_forever()


if __name__ == "__main__":
    main()
