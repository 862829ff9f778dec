"""One keep-alive HTTP/1.1 client connection as an asyncio Protocol.

Invariant: at most one exchange is pending per connection, and it is resolved exactly once
(complete response, connection lost, parse error or deadline); nothing is ever resent.
A connection is `reusable` only while the transport is open, no exchange is pending, and
the last response allowed keep-alive.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from typing import cast

import httptools

from changeover.loadgen.outcome import Exchange

_FRAMING = (b"content-length", b"transfer-encoding")


class Connection(asyncio.Protocol):
    """Sends requests one at a time and parses the responses with httptools."""

    def __init__(self, live: set[Connection], count_header: bytes | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._live = live
        self._count_header = count_header
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._ex: Exchange | None = None
        self._waiter: asyncio.Future[Exchange] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._framed = False
        self.uses = 0
        self.reusable = False
        self.closed: asyncio.Future[None] = self._loop.create_future()

    def exchange(
        self, request: bytes, collect_body: bool, deadline: float
    ) -> asyncio.Future[Exchange]:
        """Send one request; the future resolves once with how the exchange ended."""
        ex = Exchange(reuse=self.uses, collect_body=collect_body)
        self.uses += 1
        self.reusable = False
        waiter = self._loop.create_future()
        self._ex, self._waiter = ex, waiter
        self._timer = self._loop.call_at(deadline, self._on_deadline)
        transport = self._transport
        if transport is None or transport.is_closing():
            self._finish()  # lost before sending: a reset with no response byte
        else:
            transport.write(request)
        return waiter

    def close(self) -> None:
        """Close politely (a complete response was read; nothing is pending)."""
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection at once (after a failure its state can't be trusted)."""
        self.reusable = False
        if self._transport is not None:
            self._transport.abort()

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.reusable = True
        self._live.add(self)

    def data_received(self, data: bytes) -> None:
        ex = self._ex
        if ex is None:
            self.abort()  # bytes nobody asked for: the next response would be misread
            return
        ex.got_bytes = True
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            ex.parse_error = True
            self._finish()

    def eof_received(self) -> bool:
        return False  # let the transport close; connection_lost decides the outcome

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._live.discard(self)
        ex = self._ex
        if ex is not None and exc is None and self._ends_at_eof(ex):
            ex.complete = True  # body delimited by connection close, now complete
        self._finish()
        if not self.closed.done():
            self.closed.set_result(None)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._framed = False
        if self._ex is None:
            self.reusable = False  # a second response to one request: stream is out of step

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self._ex
        if ex is None:
            return
        lowered = name.lower()
        if lowered in _FRAMING:
            self._framed = True
        elif lowered == self._count_header:
            ex.header_value = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        ex = self._ex
        if ex is not None:
            ex.status = self._parser.get_status_code()
            if ex.collect_body:
                ex.body = bytearray()

    def on_body(self, body: bytes) -> None:
        ex = self._ex
        if ex is not None and ex.body is not None:
            ex.body += body

    def on_message_complete(self) -> None:
        ex = self._ex
        if ex is None or ex.status is None:
            return
        if 100 <= ex.status < 200:
            ex.status, ex.header_value, ex.body = None, None, None  # interim: keep waiting
            return
        ex.complete = True
        keep_alive = self._parser.should_keep_alive()
        self._finish()
        self.reusable = keep_alive and not _closing(self._transport)

    # internals

    def _ends_at_eof(self, ex: Exchange) -> bool:
        status = ex.status
        if status is None or self._framed or ex.parse_error:
            return False
        return status >= 200 and status not in (204, 304)

    def _on_deadline(self) -> None:
        if self._ex is not None:
            self._ex.timed_out = True
        self._timer = None
        self._finish()
        self.abort()

    def _finish(self) -> None:
        ex, waiter, timer = self._ex, self._waiter, self._timer
        self._ex = self._waiter = self._timer = None
        if timer is not None:
            timer.cancel()
        if waiter is not None and ex is not None and not waiter.done():
            waiter.set_result(ex)


def _closing(transport: asyncio.Transport | None) -> bool:
    return transport is None or transport.is_closing()


async def connect(
    addresses: Sequence[tuple[str, int]],
    live: set[Connection],
    count_header: bytes | None,
    deadline: float,
    tls: ssl.SSLContext | None = None,
    server_name: str | None = None,
) -> Connection:
    """Open a connection to the first address that accepts; raise the last error otherwise.
    With `tls`, the handshake (with `server_name`) is part of connecting: a failed one is
    an `ssl.SSLError`, an OSError like a refused connection."""
    loop = asyncio.get_running_loop()
    error: OSError = ConnectionRefusedError("no address to connect to")
    async with asyncio.timeout_at(deadline):
        for host, port in addresses:
            try:
                _, conn = await loop.create_connection(
                    lambda: Connection(live, count_header),
                    host,
                    port,
                    ssl=tls,
                    server_hostname=server_name if tls is not None else None,
                )
            except OSError as exc:
                error = exc
            else:
                return conn
    raise error
