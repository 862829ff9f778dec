"""One conditional GET of the flag document, over TCP (http/https) or a unix socket.

Invariant: at most one request is in flight per `Fetcher`, on one kept-alive connection;
`close()` (from any thread) unblocks it at once by shutting the socket down, so a client can
stop in the middle of a 30 s long-poll, and no fetch starts or waits after it. Any failure
drops the connection, and the next fetch dials again.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

WAIT_PARAM = "wait"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    etag: str | None
    body: bytes


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, host: str, timeout: float) -> None:
        super().__init__(host, timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def duration(seconds: float) -> str:
    """`30s`, or `250ms` below a second: the unit syntax the agent's specs use."""
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


class Fetcher:
    def __init__(
        self,
        url: str,
        *,
        uds: str | None = None,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"flag url must be http:// or https:// with a host (got {url!r})")
        self.url = url
        self._parts = parts
        self._uds = uds
        self.timeout = timeout
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def fetch(self, etag: str | None, wait: float | None) -> Response:
        """GET the document; raises OSError or http.client.HTTPException on failure."""
        headers = dict(self._headers)
        if etag is not None:
            headers["If-None-Match"] = etag
        timeout = self.timeout + (wait or 0.0)
        conn = self._connection(timeout)
        try:
            conn.request("GET", self._target(wait), headers=headers)
            if self._closed:  # closed while dialing: the socket close() saw may be None
                raise ConnectionAbortedError("flag fetcher closed")
            reply = conn.getresponse()
            body = reply.read()
        except BaseException:
            # close() may have dropped this conn and http.client then dialed it again.
            conn.close()
            self._drop()
            raise
        if reply.will_close:
            self._drop()
        return Response(reply.status, reply.getheader("ETag"), body)

    def clone(self) -> Fetcher:
        """A fetcher with the same settings and its own connection (for a forked child)."""
        return Fetcher(self.url, uds=self._uds, timeout=self.timeout, headers=self._headers)

    def forget(self) -> None:
        """Drop the connection without shutting it down: after fork it is the parent's."""
        conn, self._conn, self._lock = self._conn, None, threading.Lock()
        if conn is not None:
            conn.close()  # closes only this process's descriptor

    def close(self) -> None:
        self._closed = True
        with self._lock:
            sock = self._conn.sock if self._conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed or never connected
                sock.shutdown(socket.SHUT_RDWR)
        self._drop()

    def _target(self, wait: float | None) -> str:
        path = self._parts.path or "/"
        query = self._parts.query
        if wait is not None:
            query = f"{query}&{WAIT_PARAM}={duration(wait)}" if query else f"wait={duration(wait)}"
        return f"{path}?{query}" if query else path

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        with self._lock:
            if self._closed:
                raise ConnectionAbortedError("flag fetcher closed")
            if self._conn is None:
                self._conn = self._dial(timeout)
            conn = self._conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _dial(self, timeout: float) -> http.client.HTTPConnection:
        host, port = self._parts.hostname or "localhost", self._parts.port
        if self._uds is not None:
            return _UnixConnection(self._uds, host, timeout)
        if self._parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout)
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def _drop(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
