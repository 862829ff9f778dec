"""Kit for the byte-level proxy tests: a Proxy on a VirtualLoop, scripted replicas and
fake client connections (changeover.proxy.fakes). No socket, no real time.

Waiting is `settle()` (everything due at this instant happens) or `asyncio.sleep(t)`
(t virtual seconds pass: every timer due meanwhile fires, in order).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from changeover.proxy import fakes
from changeover.proxy.config import ProxyConfig
from changeover.proxy.fakes import (
    Connect,
    FakeTransport,
    Reply,
    ScriptedUpstream,
    Then,
    run,
    settle,
)
from changeover.proxy.server import Proxy

CLIENT_IP = "198.51.100.7"
WALL = 1_800_000_000.0  # the time of day at virtual time 0: 2027-01-15T08:00:00Z
__all__ = [
    "CLIENT_IP",
    "WALL",
    "Connect",
    "Reply",
    "Rig",
    "Then",
    "get",
    "ok",
    "rig",
    "run",
    "settle",
]


def get(target: bytes = b"/", request_id: bytes = b"t", method: bytes = b"GET") -> bytes:
    """A request for `target` on Host h with a known X-Request-Id (echoed on the reply)."""
    return b"%s %s HTTP/1.1\r\nHost: h\r\nX-Request-Id: %s\r\n\r\n" % (method, target, request_id)


def ok(body: bytes = b"ok", *headers: bytes) -> bytes:
    """A 200 response with a Content-Length, plus `headers` (whole lines, no CRLF)."""
    lines = [b"HTTP/1.1 200 OK", *headers, b"Content-Length: %d" % len(body)]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class Rig:
    """One proxy with its replicas and clients; replicas get addresses 10.0.0.N:8000."""

    def __init__(self, config: ProxyConfig | None) -> None:
        self.loop = fakes.running_loop()
        loop = self.loop
        self.proxy = Proxy(
            config or ProxyConfig(), clock=loop.time, wall=lambda: WALL + loop.time()
        )

    def replica(
        self,
        *script: Reply | bytes,
        name: str = "r1-1",
        revision: int = 1,
        connect: Connect = Connect.ACCEPT,
        routable: bool = True,
    ) -> ScriptedUpstream:
        upstream = ScriptedUpstream(*script, connect=connect)
        address = (f"10.0.0.{len(self.loop.upstreams) + 1}", 8000)
        self.loop.upstreams[address] = upstream
        self.proxy.add_endpoint(name, revision, *address)
        self.proxy.set_routable(name, routable)
        return upstream

    def client(self, port: int = 40000, preview: bool = False) -> FakeTransport:
        transport = FakeTransport(self.loop, peer=(CLIENT_IP, port))
        self.proxy.accept(transport, preview)
        return transport

    async def exchange(self, client: FakeTransport, request: bytes) -> bytes:
        """Send `request`, let everything due happen, return what the client received."""
        client.feed(request)
        await settle()
        return client.take()


@contextlib.asynccontextmanager
async def rig(config: ProxyConfig | None = None) -> AsyncIterator[Rig]:
    r = Rig(config)
    try:
        yield r
    finally:
        await r.proxy.shutdown(1.0)
