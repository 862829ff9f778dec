"""Upgrade tunnels, backpressure in both directions, and graceful shutdown."""

from __future__ import annotations

import asyncio
import socket

import pytest

from changeover.proxy.downstream import Downstream
from changeover.proxy.upstream import Upstream
from tests.io.proxy.proxy_kit import (
    LOOPBACK,
    Backend,
    Client,
    Message,
    build,
    eventually,
    respond,
    run,
    serving,
)

UPGRADE = {"Connection": "Upgrade", "Upgrade": "echo"}


def test_upgrade_switches_to_a_byte_tunnel() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(build("GET", "/upgrade", UPGRADE))
            head = await client.response(interim=True)
            assert head.status == 101
            assert head.header("upgrade") == "echo"
            assert (head.header("connection") or "").lower() == "upgrade"
            assert await client.reader.readexactly(20) == b"hello from upstream|"
            for word in (b"ping", b"\x00\xffbinary\r\n\r\n"):
                await client.send(word)
                assert await client.reader.readexactly(5 + len(word)) == b"echo:" + word
            assert proxy.inflight("r1-1") == 1  # a live tunnel counts as in flight
            await client.close()
            await eventually(lambda: proxy.inflight("r1-1") == 0, "tunnel to end")
            await eventually(lambda: backend.closed == 1, "upstream side to close")
            assert proxy.metrics()["endpoints"]["r1-1"]["idle_connections"] == 0
            assert proxy.metrics()["revisions"]["1"]["status"]["1xx"] == 1
        seen = backend.requests[0]
        assert seen.header("upgrade") == "echo"
        assert (seen.header("connection") or "").lower() == "upgrade"

    run(main)


def test_refused_upgrade_is_an_ordinary_response_and_connection_continues() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(build("GET", "/plain", UPGRADE) + build("GET", "/next"))
            first = await client.response()
            second = await client.response()
            await client.close()
        assert first.body == b"rev 1 /plain"
        assert second.body == b"rev 1 /next"

    run(main)


def test_upstream_closing_the_tunnel_closes_the_client() -> None:
    async def handler(
        b: Backend, msg: Message, reader: object, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(b"HTTP/1.1 101 OK\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nbye")
        return False

    async def main() -> None:
        async with serving(Backend(handler=handler)) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(build("GET", "/", UPGRADE))
            assert (await client.response(interim=True)).status == 101
            assert await client.reader.read() == b"bye"
            await client.close()
            await eventually(lambda: proxy.inflight("r1-1") == 0, "tunnel to end")

    run(main)


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count flow-control pauses so tests can wait for backpressure to engage."""
    counts = {"upstream_reads": 0, "client_reads_for_upstream": 0}
    pause_reading = Upstream.pause_reading
    pause = Downstream.pause

    def counting_pause_reading(self: Upstream) -> None:
        counts["upstream_reads"] += 1
        pause_reading(self)

    def counting_pause(self: Downstream, reason: int) -> None:
        if reason == Downstream.PAUSE_UPSTREAM:
            counts["client_reads_for_upstream"] += 1
        pause(self, reason)

    monkeypatch.setattr(Upstream, "pause_reading", counting_pause_reading)
    monkeypatch.setattr(Downstream, "pause", counting_pause)
    return counts


def test_slow_client_pauses_the_upstream_and_still_gets_every_byte(pauses: dict[str, int]) -> None:
    async def main() -> None:
        backend = Backend()
        size = 32 << 20
        async with serving(backend) as proxy:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, proxy.address)
            reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 22)
            client = Client(reader, writer)
            await client.send(build("GET", f"/big?{size}"))
            await eventually(lambda: pauses["upstream_reads"] > 0, "upstream reads to pause")
            resp = await client.response()
            await client.close()
        assert resp.body == bytes(range(256)) * (size // 256)

    run(main)


def test_slow_upstream_pauses_the_client_upload(pauses: dict[str, int]) -> None:
    async def slow_reader(
        b: Backend, msg: Message, reader: object, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(respond(200, str(len(msg.body)).encode()))
        return True

    async def main() -> None:
        backend = Backend(handler=slow_reader)
        payload = bytes(range(256)) * ((32 << 20) // 256)
        async with serving(backend) as proxy:
            backend.hold_bodies()
            client = await Client.connect(proxy.address)
            upload = asyncio.ensure_future(client.send(build("POST", "/", body=payload)))
            await eventually(lambda: pauses["client_reads_for_upstream"] > 0, "client to pause")
            backend.release_bodies()
            await upload
            resp = await client.response()
            await client.close()
        assert resp.body == str(len(payload)).encode()
        assert backend.requests[0].body == payload

    run(main)


def test_shutdown_lets_inflight_finish_and_closes_idle_connections() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            idle = await Client.connect(proxy.address)
            assert (await idle.request("GET", "/")).status == 200
            busy = await Client.connect(proxy.address)
            await busy.send(build("GET", "/gate"))
            await eventually(lambda: proxy.inflight("r1-1") == 1, "request in flight")
            stopping = asyncio.ensure_future(proxy.shutdown(10.0))
            assert await idle.at_eof()
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(*proxy.address)
            backend.gate.set()
            resp = await busy.response()
            assert resp.status == 200
            assert resp.header("connection") == "close"
            assert await busy.at_eof()
            await idle.close()
            await busy.close()
            await stopping

    run(main)


def test_shutdown_timeout_aborts_what_is_left() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(build("GET", "/gate"))
            await eventually(lambda: proxy.inflight("r1-1") == 1, "request in flight")
            await proxy.shutdown(0.05)
            assert proxy.inflight("r1-1") == 0
            assert await client.at_eof()
            await client.close()
            await eventually(lambda: backend.closed == 1, "upstream connection aborted")

    run(main)


def test_listening_address_is_reported() -> None:
    async def main() -> None:
        async with serving(Backend()) as proxy:
            host, port = proxy.address
            assert host == LOOPBACK
            assert port > 0

    run(main)


def test_shutdown_with_idle_grace_still_serves_a_keep_alive_clients_next_request() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            assert (await client.request("GET", "/")).status == 200
            stopping = asyncio.ensure_future(proxy.shutdown(10.0, idle_grace=5.0))
            await eventually(lambda: proxy._ctx.closing, "shutdown started")
            # the idle connection was not closed: its next request is answered, then closed
            resp = await client.request("GET", "/")
            assert resp.status == 200
            assert resp.header("connection") == "close"
            assert await client.at_eof()
            await client.close()
            async with asyncio.timeout(5):  # no client left: the grace ends early
                await stopping

    run(main)
