"""Real servers running the runtime examples, for the integration tests.

Every server starts in its own session and is killed by process group at teardown, and
any process of that session still alive then is reported, so no test leaves one behind.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from tests import helpers
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "runtime"
BIN = Path(sys.executable).parent


COMMANDS: dict[str, Callable[[int], list[str]]] = {
    "uvicorn": lambda p: [str(BIN / "uvicorn"), "starlette_app:app", "--port", str(p)],
    "hypercorn": lambda p: [
        str(BIN / "hypercorn"), "starlette_app:app", "-b", f"127.0.0.1:{p}",
        "--workers", "0", "--graceful-timeout", "20",
    ],
    "granian": lambda p: [
        str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(p),
        "starlette_app:app",
    ],
    "granian-wsgi": lambda p: [
        str(BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(p),
        "wsgi_app:app",
    ],
    "gunicorn-uvicorn": lambda p: [
        str(BIN / "gunicorn"), "-k", "uvicorn.workers.UvicornWorker", "-b", f"127.0.0.1:{p}",
        "--graceful-timeout", "20", "starlette_app:app",
    ],
    "gunicorn-wsgi": lambda p: [
        str(BIN / "gunicorn"), "--threads", "4", "-b", f"127.0.0.1:{p}",
        "--graceful-timeout", "20", "wsgi_app:app",
    ],
}  # fmt: skip

ON_FD: dict[str, Callable[[int], list[str]]] = {
    "uvicorn": lambda fd: [str(BIN / "uvicorn"), "starlette_app:app", "--fd", str(fd)],
    "gunicorn-uvicorn": lambda fd: [
        str(BIN / "gunicorn"),
        "-k",
        "uvicorn.workers.UvicornWorker",
        "-b",
        f"fd://{fd}",
        "--graceful-timeout",
        "20",
        "starlette_app:app",
    ],
}  # servers that can take a listening socket we made, as under `changeover run`


class Server:
    """One server process; with `listener` it serves on that socket, which this process
    keeps too (as `changeover run` does), with `extra_env` added to its environment."""

    def __init__(
        self,
        kind: str,
        tmp: Path,
        grace: float = 10.0,
        listener: socket.socket | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port() if listener is None else listener.getsockname()[1]
        self.log = tmp / "shutdown.log"
        self.output = tmp / "server.out"
        env = {
            **os.environ,
            "CHANGEOVER_GRACE_PERIOD": f"{grace:g}",
            "SHUTDOWN_LOG": str(self.log),
            "PYTHONPATH": str(EXAMPLES),
            **(extra_env or {}),
        }
        argv = COMMANDS[kind](self.port) if listener is None else ON_FD[kind](listener.fileno())
        fds = () if listener is None else (listener.fileno(),)
        with self.output.open("w") as out:
            self.proc = subprocess.Popen(
                argv, cwd=EXAMPLES, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, pass_fds=fds,
            )  # fmt: skip

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            headers = {k.lower(): v for k, v in response.getheaders()}
            return response.status, headers, response.read()
        finally:
            conn.close()

    def status(self, path: str) -> int | None:
        """The status of GET `path`, or None if the server refused or dropped it."""
        try:
            return self.get(path, timeout=2.0)[0]
        except (OSError, http.client.HTTPException):
            return None

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_for(lambda: self.status("/readyz") == 200, timeout, "the server to be ready", self)

    def in_flight(self) -> int:
        count: int = json.loads(self.get("/livez")[2])["in_flight"]
        return count

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def shutdown_steps(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []

    def cleanup(self) -> list[int]:
        """Kill the whole session; the pids that were still alive (should be none)."""
        survivors = [p.pid for p in psutil.process_iter() if _session(p.pid) == self.proc.pid]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        return survivors

    def describe(self) -> str:
        return self.output.read_text()[-3000:] if self.output.exists() else ""


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, server: Server | None = None
) -> Any:
    """The shared `wait_for`, showing the server's output when it times out."""
    return helpers.wait_for(condition, timeout, what, detail=server.describe if server else None)


class WebSocketClient:
    """Just enough RFC 6455 to send a text frame and read frames (client side)."""

    def __init__(self, port: int, path: str = "/ws") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError(f"handshake cut: {head!r}")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"handshake refused: {head!r}")

    def send_text(self, text: str) -> None:
        payload, mask = text.encode(), os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def read_frame(self) -> tuple[int, bytes]:
        opcode, length = (b & 0x7F for b in self._exactly(2))
        opcode &= 0x0F
        if length == 126:
            (length,) = struct.unpack("!H", self._exactly(2))
        return opcode, self._exactly(length)

    def close_code(self) -> int:
        """Read until the close frame; its status code."""
        while True:
            opcode, payload = self.read_frame()
            if opcode == 0x8:
                code: int = struct.unpack("!H", payload[:2])[0]
                return code

    def _exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("connection closed mid-frame")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()
