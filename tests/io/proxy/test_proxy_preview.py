"""The blue-green preview listener: one Proxy, two listeners, separate routing."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from changeover.proxy.config import ProxyConfig
from changeover.proxy.policy import HeaderRoute, TrafficPolicy
from changeover.proxy.server import Proxy
from tests.io.proxy.proxy_kit import (
    LOOPBACK,
    Backend,
    Client,
    Message,
    build,
    eventually,
    listening_socket,
    run,
    serving,
)


async def get(address: tuple[str, int], path: str = "/") -> Message:
    client = await Client.connect(address)
    try:
        return await client.request("GET", path)
    finally:
        await client.close()


async def refused(address: tuple[str, int]) -> bool:
    try:
        _, writer = await asyncio.open_connection(*address)
    except ConnectionRefusedError:
        return True
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return False


def test_preview_serves_only_the_preview_revision_and_public_is_unaffected() -> None:
    async def main() -> None:
        blue = [Backend(1, "r1-1"), Backend(1, "r1-2")]
        green = Backend(2, "r2-1")
        async with serving(*blue, green) as proxy:
            proxy.set_traffic(TrafficPolicy({1: 100}, (HeaderRoute("X-Canary", 2, value="1"),)))
            assert proxy.preview_address is None
            await proxy.serve_preview(listening_socket())
            assert proxy.preview_address is not None
            assert proxy.preview_address != proxy.address
            proxy.set_preview(2)
            assert proxy.preview == 2
            preview = await Client.connect(proxy.preview_address)
            public = await Client.connect(proxy.address)
            for _ in range(10):
                assert (await preview.request("GET", "/")).header("x-revision") == "2"
                assert (await public.request("GET", "/")).header("x-revision") == "1"
            # Header routes belong to public traffic; the preview stays on its revision.
            proxy.set_preview(1)
            resp = await preview.request("GET", "/", {"X-Canary": "1"})
            assert resp.header("x-revision") == "1"
            await preview.close()
            await public.close()
            # Same metrics for both listeners.
            assert proxy.metrics()["revisions"]["2"]["requests"] == 10

    run(main)


def test_preview_answers_503_without_a_preview_revision() -> None:
    async def main() -> None:
        async with serving(Backend(1, "r1-1"), Backend(2, "r2-1")) as proxy:
            await proxy.serve_preview(listening_socket())
            assert proxy.preview_address is not None
            resp = await get(proxy.preview_address)
            assert resp.status == 503
            assert resp.body == b"503 Service Unavailable: no preview revision\n"
            proxy.set_preview(3)
            resp = await get(proxy.preview_address)
            assert resp.status == 503
            assert b"no replica of preview revision 3 is available" in resp.body
            proxy.set_preview(2)
            proxy.set_routable("r2-1", False)
            assert (await get(proxy.preview_address)).status == 503
            proxy.set_routable("r2-1", True)
            assert (await get(proxy.preview_address)).status == 200
            proxy.set_preview(None)
            assert (await get(proxy.preview_address)).status == 503
            assert (await get(proxy.address)).status == 200
            assert proxy.metrics()["unrouted"] == 4

    run(main)


def test_preview_request_never_retries_onto_another_revision() -> None:
    async def main() -> None:
        stable = Backend(1, "r1-1")
        async with serving(stable) as proxy:
            with socket.socket() as sock:
                sock.bind((LOOPBACK, 0))
                port = sock.getsockname()[1]
            proxy.add_endpoint("r2-1", 2, LOOPBACK, port)  # nobody listens: refused
            proxy.set_routable("r2-1", True)
            proxy.set_weights({1: 100})
            await proxy.serve_preview(listening_socket())
            proxy.set_preview(2)
            assert proxy.preview_address is not None
            resp = await get(proxy.preview_address)
            assert resp.status == 502
            assert stable.requests == []

    run(main)


def test_preview_listener_uses_the_proxy_timeouts() -> None:
    async def main() -> None:
        config = ProxyConfig(header_timeout=0.2)
        async with serving(Backend(2, "r2-1"), config=config) as proxy:
            await proxy.serve_preview(listening_socket())
            assert proxy.preview_address is not None
            client = await Client.connect(proxy.preview_address)
            await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # head never completes
            assert (await client.response()).status == 408
            await client.close()

    run(main)


def test_close_preview_finishes_busy_connections_and_closes_idle_ones() -> None:
    async def main() -> None:
        green = Backend(2, "r2-1")
        async with serving(Backend(1, "r1-1"), green) as proxy:
            proxy.set_weights({1: 100})
            await proxy.serve_preview(listening_socket())
            proxy.set_preview(2)
            address = proxy.preview_address
            assert address is not None
            idle = await Client.connect(address)
            assert (await idle.request("GET", "/")).status == 200
            busy = await Client.connect(address)
            await busy.send(build("GET", "/gate"))
            await eventually(lambda: proxy.inflight("r2-1") == 1, "preview request in flight")
            public = await Client.connect(proxy.address)
            assert (await public.request("GET", "/")).status == 200
            await proxy.close_preview()
            assert proxy.preview_address is None
            assert await refused(address)
            assert await idle.at_eof()
            green.gate.set()
            resp = await busy.response()
            assert (resp.status, resp.body, resp.header("connection")) == (200, b"opened", "close")
            assert await busy.at_eof()
            # The public listener and its keep-alive connections are untouched.
            assert (await public.request("GET", "/")).header("x-revision") == "1"
            await proxy.close_preview()  # closing twice is a no-op
            for client in (idle, busy, public):
                await client.close()

    run(main)


def test_preview_can_reopen_and_shutdown_closes_it() -> None:
    async def main() -> None:
        async with serving(Backend(2, "r2-1")) as proxy:
            await proxy.serve_preview(listening_socket())
            with listening_socket() as spare, pytest.raises(RuntimeError, match="already open"):
                await proxy.serve_preview(spare)
            await proxy.close_preview()
            await proxy.serve_preview(listening_socket())
            proxy.set_preview(2)
            address = proxy.preview_address
            assert address is not None
            assert (await get(address)).status == 200
            await proxy.shutdown(1.0)
            assert proxy.preview_address is None
            assert await refused(address)
            with listening_socket() as spare, pytest.raises(RuntimeError, match="shut down"):
                await proxy.serve_preview(spare)

    run(main)


def test_preview_only_proxy_still_enforces_timeouts() -> None:
    async def main() -> None:
        backend = await Backend(2, "r2-1").start()
        proxy = Proxy(ProxyConfig(header_timeout=0.2))
        try:
            await proxy.serve_preview(listening_socket())
            proxy.add_endpoint("r2-1", 2, LOOPBACK, backend.port)
            proxy.set_routable("r2-1", True)
            proxy.set_preview(2)
            assert proxy.preview_address is not None
            assert (await get(proxy.preview_address)).header("x-revision") == "2"
            client = await Client.connect(proxy.preview_address)
            await client.send(b"GET / HTTP/1.1\r\n")
            assert (await client.response()).status == 408
            await client.close()
        finally:
            await proxy.shutdown(1.0)
            await backend.stop()

    run(main)
