"""Raw byte tunnel between a client and an upstream after a 101 Switching Protocols.

Invariant: bytes are relayed unchanged in both directions with backpressure (a side
whose writes back up pauses reads on the other), and when either side closes the other
is closed too; `on_closed` runs exactly once, after both transports are gone. The
client side reports its write pauses (`client_paused`), so the sweep can cut a client
that stopped reading, as it does for ordinary responses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast


class _Side(asyncio.Protocol):
    __slots__ = ("on_pause", "peer", "transport", "tunnel")

    def __init__(
        self,
        tunnel: Tunnel,
        transport: asyncio.Transport,
        on_pause: Callable[[bool], None] | None = None,
    ) -> None:
        self.tunnel = tunnel
        self.transport = transport
        self.peer = cast("_Side", None)
        self.on_pause = on_pause  # told when writes to this side pause (True) and resume

    def data_received(self, data: bytes) -> None:
        peer = self.peer.transport
        if not peer.is_closing():
            peer.write(data)

    def eof_received(self) -> bool | None:
        return None  # close this side; connection_lost closes the other

    def pause_writing(self) -> None:
        self.peer.transport.pause_reading()
        if self.on_pause is not None:
            self.on_pause(True)

    def resume_writing(self) -> None:
        self.peer.transport.resume_reading()
        if self.on_pause is not None:
            self.on_pause(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.tunnel.side_lost(self, exc)


class Tunnel:
    __slots__ = ("_on_closed", "_open", "client", "upstream")

    def __init__(self, on_closed: Callable[[], None]) -> None:
        self._on_closed = on_closed
        self._open = 2
        self.client = cast(_Side, None)
        self.upstream = cast(_Side, None)

    def side_lost(self, side: _Side, exc: Exception | None) -> None:
        peer = side.peer.transport
        if not peer.is_closing():
            if exc is None:
                peer.close()  # flush what the closed side sent last
            else:
                peer.abort()
        self._open -= 1
        if not self._open:
            self._on_closed()

    def close(self) -> None:
        """Close both sides after what each was already sent (each then sees EOF)."""
        for side in (self.client, self.upstream):
            if not side.transport.is_closing():
                side.transport.close()


def splice(
    client: asyncio.Transport,
    upstream: asyncio.Transport,
    client_rest: bytes,
    upstream_rest: bytes,
    on_closed: Callable[[], None],
    client_paused: Callable[[bool], None] | None = None,
) -> Tunnel:
    """Hand both transports to a tunnel, first relaying bytes that arrived early."""
    tunnel = Tunnel(on_closed)
    a = tunnel.client = _Side(tunnel, client, client_paused)
    b = tunnel.upstream = _Side(tunnel, upstream)
    a.peer, b.peer = b, a
    client.set_protocol(a)
    upstream.set_protocol(b)
    if client_rest and not upstream.is_closing():
        upstream.write(client_rest)
    if upstream_rest and not client.is_closing():
        client.write(upstream_rest)
    client.resume_reading()
    upstream.resume_reading()
    return tunnel
