"""One accepting socket of a Proxy: the public listener or the blue-green preview one.

Invariant: every connection a listener accepts shares the Proxy's one Context (config,
timeouts, routing table, metrics, live connection sets); a listener only decides
whether its connections are preview ones. Closing it stops accepting and retires its
own connections (idle ones close now, busy ones after their current response), never
touching the other listener's.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from changeover.proxy.context import Context


class Listener:
    __slots__ = ("_server", "address", "ctx", "preview")

    def __init__(
        self, ctx: Context, server: asyncio.Server, address: tuple[str, int], preview: bool
    ) -> None:
        self.ctx = ctx
        self._server = server
        self.address = address
        self.preview = preview

    @classmethod
    async def start(
        cls, ctx: Context, sock: socket.socket, preview: bool, tls: ssl.SSLContext | None = None
    ) -> Listener:
        """Accept on an already bound and listening socket, on the proxy's loop; with
        `tls`, every connection is a TLS one (`[proxy] tls`)."""
        assert ctx.loop is not None
        host, port = sock.getsockname()[:2]
        # a handshake gets the time a request head gets (header_timeout), not asyncio's 60 s
        handshake = None if tls is None else ctx.config.header_timeout
        server = await ctx.loop.create_server(
            lambda: ctx.client_type(ctx, preview),
            sock=sock,
            ssl=tls,
            ssl_handshake_timeout=handshake,
        )
        return cls(ctx, server, (str(host), int(port)), preview)

    def close(self) -> None:
        """Stop accepting (the listening socket closes now)."""
        self._server.close()

    def retire_connections(self) -> None:
        for client in tuple(self.ctx.clients):
            if client.preview == self.preview:
                client.retire()

    async def wait_closed(self) -> None:
        await self._server.wait_closed()
