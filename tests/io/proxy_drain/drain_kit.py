"""Helpers for the proxy drain tests: a tunnel opener, a flooding upstream, raw sockets.

Everything binds 127.0.0.1 on ephemeral ports and reuses the proxy test kit; waits are
conditions with deadlines, never sleeps that decide a verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from changeover.proxy.server import Proxy
from tests.io.proxy.proxy_kit import Backend, Client, Message, build

UPGRADE = {"Connection": "Upgrade", "Upgrade": "echo"}
FLOOD = 256 * 1024  # bytes per write of the flooding tunnel upstream


async def open_tunnel(proxy: Proxy) -> Client:
    """A client with an echo tunnel open through the proxy (see proxy_kit `/upgrade`)."""
    client = await Client.connect(proxy.address)
    await client.send(build("GET", "/upgrade", UPGRADE))
    head = await client.response(interim=True)
    assert head.status == 101
    assert await client.reader.readexactly(20) == b"hello from upstream|"
    return client


async def echo(client: Client, word: bytes) -> None:
    """One round trip through the tunnel: both directions still relay."""
    await client.send(word)
    assert await client.reader.readexactly(5 + len(word)) == b"echo:" + word


def endpoint(proxy: Proxy, replica_id: str = "r1-1") -> dict[str, Any]:
    described: dict[str, Any] = proxy.metrics()["endpoints"][replica_id]
    return described


async def flooding_tunnel(
    b: Backend, msg: Message, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    """Upstream of a tunnel that writes without end, until the connection breaks."""
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
    chunk = b"f" * FLOOD
    with contextlib.suppress(ConnectionError):
        while not writer.is_closing():
            writer.write(chunk)
            await writer.drain()
    return False


async def small_window_socket(address: tuple[str, int], rcvbuf: int = 16384) -> socket.socket:
    """A connected non-blocking client socket with a small receive buffer, so a client
    that does not read fills the proxy's buffers quickly."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, address)
    return sock


async def read_until_closed(sock: socket.socket) -> bool:
    """Drain what is left; True once the proxy closed or reset the connection."""
    loop = asyncio.get_running_loop()
    try:
        while await loop.sock_recv(sock, 1 << 20):
            pass
    except ConnectionError:
        pass
    return True
