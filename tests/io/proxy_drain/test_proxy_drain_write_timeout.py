"""A client that stops reading is cut after write_timeout; a slow but steady one is not."""

from __future__ import annotations

import asyncio
import time

import pytest

from changeover.proxy.config import ProxyConfig
from changeover.proxy.downstream import Downstream
from tests.io.proxy.proxy_kit import Backend, build, eventually, read_head, run, serving

from .drain_kit import endpoint, read_until_closed, small_window_socket

BIG = 8 << 20  # far more than the socket buffers on both sides of the proxy hold
PATTERN = bytes(range(256))


@pytest.fixture
def write_pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When the proxy's writes to a client paused: proof that backpressure engaged."""
    seen: list[float] = []
    pause_writing = Downstream.pause_writing

    def counting(self: Downstream) -> None:
        seen.append(time.monotonic())
        pause_writing(self)

    monkeypatch.setattr(Downstream, "pause_writing", counting)
    return seen


def test_client_that_never_reads_is_aborted_and_releases_its_slot(
    write_pauses: list[float],
) -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend, config=ProxyConfig(write_timeout=0.3)) as proxy:
            sock = await small_window_socket(proxy.address)
            await asyncio.get_running_loop().sock_sendall(sock, build("GET", f"/big?{BIG}"))
            await eventually(lambda: endpoint(proxy)["inflight"] == 1, "request in flight")
            await eventually(lambda: bool(write_pauses), "writes to the client to pause")
            await eventually(lambda: endpoint(proxy)["inflight"] == 0, "the client to be cut")
            assert await proxy.drain("r1-1", 5.0) is True
            stats = proxy.metrics()["revisions"]["1"]
            assert (stats["aborted"], stats["requests"], stats["inflight"]) == (1, 0, 0)
            # The upstream connection was mid-response: closed, never pooled.
            await eventually(lambda: backend.closed == 1, "the upstream connection to close")
            assert endpoint(proxy)["idle_connections"] == 0
            assert await read_until_closed(sock)
            sock.close()
            await eventually(lambda: not proxy._ctx.clients, "the client to be forgotten")

    run(main)


def test_client_reading_slowly_but_steadily_gets_the_whole_response(
    write_pauses: list[float],
) -> None:
    size = 16 << 20  # enough to outlast the kernel's buffers many times over
    write_timeout = 0.5

    async def main() -> tuple[bytes, float]:
        backend = Backend()
        config = ProxyConfig(write_timeout=write_timeout)
        async with serving(backend, config=config) as proxy:
            sock = await small_window_socket(proxy.address, rcvbuf=65536)
            loop = asyncio.get_running_loop()
            started = time.monotonic()
            await loop.sock_sendall(sock, build("GET", f"/big?{size}"))
            received = bytearray()
            expected = -1  # total bytes, known once the head is in
            while len(received) != expected:
                await asyncio.sleep(0.01)  # a slow reader: each gap far under write_timeout
                chunk = await loop.sock_recv(sock, 262144)
                assert chunk, f"connection closed after {len(received)} bytes"
                received += chunk
                if expected < 0 and (end := received.find(b"\r\n\r\n")) >= 0:
                    expected = end + 4 + size
            elapsed = time.monotonic() - started
            sock.close()
            await eventually(lambda: endpoint(proxy)["inflight"] == 0, "the exchange to end")
            assert proxy.metrics()["revisions"]["1"]["aborted"] == 0
        return bytes(received), elapsed

    received, elapsed = run(main)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == PATTERN * (size // 256)
    assert len(write_pauses) > 1  # backpressure engaged, more than once
    # The transfer outlasted write_timeout: only pauses are timed, not whole responses.
    assert elapsed > write_timeout


def test_response_read_after_a_short_pause_is_complete() -> None:
    """A client that stops reading for less than write_timeout, then reads, loses nothing."""

    async def main() -> bytes:
        backend = Backend()
        async with serving(backend, config=ProxyConfig(write_timeout=5.0)) as proxy:
            sock = await small_window_socket(proxy.address)
            loop = asyncio.get_running_loop()
            await loop.sock_sendall(sock, build("GET", f"/big?{BIG}"))
            await eventually(
                lambda: any(c.write_paused for c in proxy._ctx.clients), "writes to pause"
            )
            reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 22)
            head = await read_head(reader)
            assert head is not None
            assert head.status == 200
            body = await reader.readexactly(int(head.header("content-length") or 0))
            writer.close()
            await writer.wait_closed()
            return body

    assert run(main) == PATTERN * (BIG // 256)
