"""`FlagServer`: a small real flag server for tests and local development.

Invariant: it speaks the wire contract clients rely on: `GET` answers 200 with the document
and a strong `ETag`, 304 when `If-None-Match` matches, and with `?wait=30s` (or `500ms`)
holds a matching request until the document changes (then 200 at once) or the wait ends
(then 304). `stop()` closes the listener and every open connection, as a dead server would;
`start()` again serves on the same address.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import socketserver
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from changeover.flags.transport import WAIT_PARAM

PATH = "/api/client/features"


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class FlagServer:
    def __init__(
        self, document: Mapping[str, Any] | bytes, *, uds: str | None = None, long_poll: bool = True
    ) -> None:
        self.long_poll = long_poll
        self.uds = uds
        self.requests = 0
        self._address: tuple[str, int] = ("127.0.0.1", 0)
        self._changed = threading.Condition()
        self._open: set[socket.socket] = set()
        self._server: socketserver.BaseServer | None = None
        self._stopping = False
        self._body, self.etag = b"", ""
        self.set_document(document)

    @property
    def url(self) -> str:
        host, port = self._address
        return f"http://{host}:{port}{PATH}"

    def set_document(self, document: Mapping[str, Any] | bytes) -> None:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        with self._changed:
            self._body = body
            self.etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
            self._changed.notify_all()

    def start(self) -> FlagServer:
        handler = _handler(self)
        server: socketserver.BaseServer
        if self.uds is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.uds)
            server = _UnixHTTPServer(self.uds, handler)
        else:
            server = ThreadingHTTPServer(self._address, handler)
            self._address = server.server_address[:2]  # type: ignore[assignment]
        self._stopping = False
        self._server = server
        serve = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="flag-server", daemon=True
        )  # a short poll interval: stop() returns in 50 ms, not 500
        serve.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FlagServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(
        self, if_none_match: str | None, wait: float | None
    ) -> tuple[int, bytes, str] | None:
        """Status, body and ETag for one request, holding it for a long-poll if asked;
        None when the server stopped meanwhile (the connection just drops)."""
        with self._changed:
            self.requests += 1
            if if_none_match == self.etag and wait is not None and self.long_poll:
                self._changed.wait_for(lambda: self.etag != if_none_match or self._stopping, wait)
            if self._stopping:
                return None
            if if_none_match == self.etag:
                return 304, b"", self.etag
            return 200, self._body, self.etag

    def track(self, conn: socket.socket, live: bool) -> None:
        with self._changed:
            (self._open.add if live else self._open.discard)(conn)


def parse_wait(text: str) -> float | None:
    """`30s` or `500ms` as seconds; None for anything else."""
    for unit, scale in (("ms", 0.001), ("s", 1.0)):
        number = text.removesuffix(unit)
        if number != text and number.isdigit():
            return int(number) * scale
    return None


def _handler(server: FlagServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            if self.connection.family != socket.AF_UNIX:
                # one response is two writes (head, body): without this, Nagle and the
                # client's delayed ACK add 40 ms to every answer
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            server.track(self.connection, True)

        def finish(self) -> None:
            server.track(self.connection, False)
            super().finish()

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            wait = parse_wait(query[WAIT_PARAM][0]) if WAIT_PARAM in query else None
            answer = server.answer(self.headers.get("If-None-Match"), wait)
            if answer is None:
                self.close_connection = True
                return
            status, body, etag = answer
            self.send_response(status)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            if body:
                self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests read outcomes, not access logs

    return Handler
