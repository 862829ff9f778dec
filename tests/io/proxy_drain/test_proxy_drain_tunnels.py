"""Upgraded (101) connections never hold a drain; shutdown closes them first."""

from __future__ import annotations

import asyncio

from changeover.proxy.config import ProxyConfig
from tests.io.proxy.proxy_kit import Backend, Client, build, eventually, run, serving

from .drain_kit import (
    UPGRADE,
    echo,
    endpoint,
    flooding_tunnel,
    open_tunnel,
    read_until_closed,
    small_window_socket,
)


def test_drain_resolves_while_a_tunnel_stays_open_and_relays_both_ways() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            tunnel = await open_tunnel(proxy)
            described = endpoint(proxy)
            assert (described["inflight"], described["tunnels"]) == (0, 1)
            assert proxy.metrics()["revisions"]["1"]["inflight"] == 0
            proxy.set_routable("r1-1", False)
            # Far below the timeout given: a drain held by the tunnel would return False.
            assert await proxy.drain("r1-1", 5.0) is True
            await echo(tunnel, b"after the drain")
            proxy.remove_endpoint("r1-1")
            await echo(tunnel, b"after removal")
            assert backend.closed == 0
            await tunnel.close()
            await eventually(lambda: backend.closed == 1, "the tunnel's upstream to close")

    run(main)


def test_tunnel_ends_when_its_upstream_closes_after_the_endpoint_is_removed() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            tunnel = await open_tunnel(proxy)
            proxy.set_routable("r1-1", False)
            assert await proxy.drain("r1-1", 5.0) is True
            proxy.remove_endpoint("r1-1")
            await echo(tunnel, b"still open")
            await backend.stop()  # the replica going away closes its side
            assert await tunnel.at_eof()
            await tunnel.close()
            await eventually(lambda: not proxy._ctx.tunnels, "the tunnel to be forgotten")
            await backend.start()  # `serving` stops it again

    run(main)


def test_http_request_in_flight_still_holds_the_drain_beside_a_tunnel() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            tunnel = await open_tunnel(proxy)
            busy = await Client.connect(proxy.address)
            await busy.send(build("GET", "/gate"))
            await eventually(lambda: endpoint(proxy)["inflight"] == 1, "request in flight")
            proxy.set_routable("r1-1", False)
            # The gate is closed, so the request cannot finish within this timeout.
            assert await proxy.drain("r1-1", 0.2) is False
            draining = asyncio.ensure_future(proxy.drain("r1-1", 10.0))
            backend.gate.set()
            response = await busy.response()
            assert response.status == 200
            assert await draining is True
            described = endpoint(proxy)
            assert (described["inflight"], described["tunnels"]) == (0, 1)
            await echo(tunnel, b"unaffected")
            await busy.close()
            await tunnel.close()

    run(main)


def test_tunnel_counts_apart_and_ends_in_metrics() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            tunnels = [await open_tunnel(proxy) for _ in range(2)]
            assert endpoint(proxy)["tunnels"] == 2
            assert proxy.inflight("r1-1") == 2  # connections using it: tunnels included
            revision = proxy.metrics()["revisions"]["1"]
            assert (revision["inflight"], revision["status"]["1xx"]) == (0, 2)
            for tunnel in tunnels:
                await tunnel.close()
            await eventually(lambda: endpoint(proxy)["tunnels"] == 0, "tunnels to end")
            assert proxy.inflight("r1-1") == 0
            assert proxy.metrics()["revisions"]["1"]["aborted"] == 0

    run(main)


def test_shutdown_closes_tunnels_first_then_drains_requests() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            tunnel = await open_tunnel(proxy)
            busy = await Client.connect(proxy.address)
            await busy.send(build("GET", "/gate"))
            await eventually(lambda: endpoint(proxy)["inflight"] == 1, "request in flight")
            stopping = asyncio.ensure_future(proxy.shutdown(10.0))
            # The tunnel's client sees EOF while the request still waits on its gate.
            assert await tunnel.at_eof()
            await eventually(lambda: backend.closed == 1, "the tunnel's upstream to close")
            assert not stopping.done()
            backend.gate.set()
            response = await busy.response()
            assert response.status == 200
            assert response.header("connection") == "close"
            assert await busy.at_eof()
            await busy.close()
            await tunnel.close()
            async with asyncio.timeout(5):  # nothing left open: well before its timeout
                await stopping
            assert not proxy._ctx.tunnels

    run(main)


def test_shutdown_with_only_a_tunnel_open_completes_promptly() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            tunnel = await open_tunnel(proxy)
            async with asyncio.timeout(5):  # the tunnel would otherwise hold it for 30 s
                await proxy.shutdown(30.0)
            assert await tunnel.at_eof()
            await tunnel.close()

    run(main)


def test_tunnel_whose_client_stops_reading_is_cut_after_write_timeout() -> None:
    async def main() -> None:
        backend = Backend(handler=flooding_tunnel)
        config = ProxyConfig(write_timeout=0.3)
        async with serving(backend, config=config) as proxy:
            sock = await small_window_socket(proxy.address)
            loop = asyncio.get_running_loop()
            await loop.sock_sendall(sock, build("GET", "/", UPGRADE))
            await eventually(lambda: endpoint(proxy)["tunnels"] == 1, "the tunnel to open")
            # Never read: the flood fills every buffer, then the sweep cuts the client.
            await eventually(lambda: endpoint(proxy)["tunnels"] == 0, "the tunnel to be cut")
            await eventually(lambda: backend.closed == 1, "the tunnel's upstream to close")
            assert await read_until_closed(sock)
            sock.close()

    run(main)
