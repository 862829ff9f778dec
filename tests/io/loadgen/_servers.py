"""Small scripted HTTP/1.1 servers on 127.0.0.1 for the load generator tests.

Invariant: every server, connection and timer a test starts here is closed by the end of
its `async with` (or `with` for the threaded variant), so no socket outlives its test.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import httptools


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    index: int
    """Index of the request on its connection (0 for the first)."""
    at: float
    """Server loop time when the request was complete."""


Handler = Callable[["ServerConn", Request], None]


def response(
    status: int = 200,
    body: bytes = b"ok",
    headers: Iterable[tuple[str, str]] = (),
    *,
    chunked: bool = False,
    version: str = "1.1",
) -> bytes:
    """Bytes of a complete response, framed by Content-Length or chunked encoding."""
    head = [f"HTTP/{version} {status} X"]
    head += [f"{k}: {v}" for k, v in headers]
    if chunked:
        head.append("Transfer-Encoding: chunked")
        halves = [body[: len(body) // 2], body[len(body) // 2 :]]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in halves if c) + b"0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(body)}")
        payload = body
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def ok_handler(conn: ServerConn, req: Request) -> None:
    """200 with body b"ok"; keeps the connection alive."""
    conn.write(response())


class ServerConn(asyncio.Protocol):
    """Server side of one connection: parses requests and hands them to the handler."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.timers: list[asyncio.TimerHandle] = []
        self.closed = asyncio.get_running_loop().create_future()
        self.requests = 0
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body = bytearray()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()

    def abort(self) -> None:
        assert self.transport is not None
        self.transport.abort()

    def later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn after delay unless the connection is gone by then."""
        self.timers.append(asyncio.get_running_loop().call_later(delay, fn, *args))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.server.conns.add(self)
        self.server.accepted += 1
        if self.server.on_connect is not None:
            self.server.on_connect(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            raise  # a bug in a test handler must not look like a client error
        except httptools.HttpParserError:
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in self.timers:
            timer.cancel()
        self.server.conns.discard(self)
        self.closed.set_result(None)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        at = asyncio.get_running_loop().time()
        req = Request(
            method, self._url.decode(), self._headers, bytes(self._body), self.requests, at
        )
        self._url, self._headers, self._body = b"", {}, bytearray()
        self.requests += 1
        self.server.received.append(req)
        self.server.handler(self, req)


@dataclass
class Server:
    """`async with Server(handler) as srv:` serves on an ephemeral loopback port."""

    handler: Handler = ok_handler
    on_connect: Callable[[ServerConn], None] | None = None
    received: list[Request] = field(default_factory=list)
    accepted: int = 0
    conns: set[ServerConn] = field(default_factory=set)
    port: int = 0
    tls: ssl.SSLContext | None = None  # HTTPS with this server context
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Server:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ServerConn(self), "127.0.0.1", 0, ssl=self.tls
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        conns = list(self.conns)
        for conn in conns:
            conn.abort()
        await asyncio.wait_for(asyncio.gather(*(c.closed for c in conns)), 5)


class ThreadedServer:
    """`with ThreadedServer(handler) as srv:` runs a `Server` on its own loop in a thread."""

    def __init__(self, handler: Handler = ok_handler) -> None:
        self.server = Server(handler)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        assert self._ready.wait(5), "server thread did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive(), "server thread did not stop"

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.server:
            self._ready.set()
            await self._stop.wait()
