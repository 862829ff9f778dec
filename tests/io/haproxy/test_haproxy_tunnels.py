"""A WebSocket tunnel through the haproxy engine (Debian's HAProxy 2.6): HAProxy's `scur`
counts it as a session in flight, so the endpoint's `inflight` shows it and a drain waits
for it to close; `tunnels` is not counted apart on this engine (None, not a made-up 0)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from changeover.haproxy.engine import HaproxyEngine
from tests.helpers import until
from tests.io.haproxy.test_haproxy_real import App, run, serving, settled
from tests.parts import require

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    require("haproxy", "haproxy")


class EchoAfterUpgrade(App):
    """A replica that answers 101 and then echoes what the tunnel carries."""

    def __init__(self) -> None:
        super().__init__(1)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
            )
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def endpoint(engine: HaproxyEngine) -> dict[str, object]:
    found: dict[str, object] = engine.metrics()["endpoints"]["r1-1"]
    return found


def test_a_tunnel_is_in_flight_and_a_drain_waits_for_it(tmp_path: Path) -> None:
    async def go() -> None:
        app = EchoAfterUpgrade()
        port = await app.start()
        async with serving(tmp_path, app) as (engine, _url):
            engine.add_endpoint("r1-1", 1, "127.0.0.1", port)
            engine.set_routable("r1-1", True)
            await settled(engine)
            host, public = engine.address
            reader, writer = await asyncio.open_connection(host, public)
            try:
                writer.write(UPGRADE)
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 101 ")
                writer.write(b"ping")
                assert await reader.readexactly(4) == b"ping"  # the tunnel carries bytes
                await until(lambda: endpoint(engine)["inflight"] == 1, 20, "scur to count it")
                assert endpoint(engine)["tunnels"] is None  # not counted apart
                engine.set_routable("r1-1", False)
                assert await engine.drain("r1-1", 0.5) is False  # the tunnel is still open
            finally:
                writer.close()
            assert await engine.drain("r1-1", 20.0) is True  # closed: nothing in flight

    run(go)
