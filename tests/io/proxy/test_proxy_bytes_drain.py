"""Drain, idle connections and shutdown through the fakes, on virtual time: a drain
resolves exactly when the last exchange in flight ends, idle connections on both sides
close, and a client that stops reading cannot hold a drain."""

from __future__ import annotations

import asyncio

import pytest

from changeover.proxy.config import ProxyConfig
from changeover.proxy.fakes import CheckedExchange
from changeover.proxy.state import State
from tests.io.proxy.bytes_kit import Reply, ok, rig, run, settle

GET = b"GET /x HTTP/1.1\r\nHost: h\r\nX-Request-Id: t1\r\n\r\n"


def test_a_drain_resolves_when_the_in_flight_count_reaches_zero() -> None:
    async def main() -> None:
        async with rig() as r:
            r.replica(Reply(ok(b"slow"), after=3.0), Reply(ok(b"slower"), after=5.0))
            first, second = r.client(1), r.client(2)
            first.feed(GET)
            second.feed(GET)
            await settle()
            assert r.proxy.inflight("r1-1") == 2
            drained = asyncio.ensure_future(r.proxy.drain("r1-1", 60.0))
            resolved: list[float] = []
            drained.add_done_callback(lambda _: resolved.append(r.loop.time()))
            await asyncio.sleep(3.0)
            assert first.take().endswith(b"slow")
            assert not drained.done()
            await asyncio.sleep(3.0)
            assert second.take().endswith(b"slower")
            assert drained.result() is True
            # Resolved by the last release itself (the reply came at 5 s), not by a poll.
            assert resolved == [pytest.approx(5.0, abs=1e-3)]

    run(main)


def test_a_drain_gives_up_at_its_timeout_while_an_exchange_is_still_in_flight() -> None:
    async def main() -> None:
        async with rig() as r:
            r.replica(Reply())  # never answers
            client = r.client()
            client.feed(GET)
            await settle()
            started = r.loop.time()
            assert await r.proxy.drain("r1-1", 2.0) is False
            assert r.loop.time() - started == pytest.approx(2.0)
            assert r.proxy.inflight("r1-1") == 1

    run(main)


def test_an_idle_keep_alive_client_is_closed_quietly_after_the_idle_timeout() -> None:
    async def main() -> None:
        config = ProxyConfig(idle_timeout=4.0)
        async with rig(config) as r:
            r.replica(ok())
            client = r.client()
            await r.exchange(client, GET)
            await asyncio.sleep(4.0 - config.sweep_interval)
            assert not client.closed
            await asyncio.sleep(2 * config.sweep_interval)
            assert client.closed
            assert client.take() == b""

    run(main)


def test_pooled_upstream_connections_expire_and_go_with_their_endpoint() -> None:
    async def main() -> None:
        config = ProxyConfig(upstream_idle_timeout=1.0)
        async with rig(config) as r:
            replica = r.replica(ok(), ok())
            client = r.client()
            await r.exchange(client, GET)
            await asyncio.sleep(1.0 + 2 * config.sweep_interval)
            assert replica.sessions[0].transport.closed  # expired from the pool
            await r.exchange(client, GET)
            assert len(replica.sessions) == 2
            r.proxy.remove_endpoint("r1-1")
            assert replica.sessions[1].transport.closed  # removed: its pool closes at once

    run(main)


def test_shutdown_closes_idle_clients_and_lets_the_exchange_in_flight_finish() -> None:
    async def main() -> None:
        async with rig() as r:
            r.replica(ok(), Reply(ok(b"last"), after=1.0))
            idle, busy = r.client(1), r.client(2)
            await r.exchange(idle, GET)
            busy.feed(GET)
            await settle()
            stopping = asyncio.ensure_future(r.proxy.shutdown(10.0))
            await settle()
            assert idle.closed
            assert not busy.closed
            await asyncio.sleep(1.0)
            assert busy.take() == (
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n"
                b"X-Request-Id: t1\r\n\r\nlast"
            )
            busy.feed_eof()  # the client reads the close and goes
            await stopping
            assert r.loop.time() < 2.0

    run(main)


def test_a_client_that_stops_reading_is_cut_at_the_write_timeout_and_frees_its_slot() -> None:
    async def main() -> None:
        config = ProxyConfig(write_timeout=3.0)
        async with rig(config) as r:
            replica = r.replica(Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart"))
            client = r.client()
            await r.exchange(client, GET)
            client.set_write_paused(True)  # its receive window is full
            assert not replica.sessions[0].transport.reading  # backpressure reached upstream
            await asyncio.sleep(3.0 - config.sweep_interval)
            assert not client.closed
            assert r.proxy.inflight("r1-1") == 1
            await asyncio.sleep(2 * config.sweep_interval)
            assert client.aborted
            assert r.proxy.inflight("r1-1") == 0
            assert replica.sessions[0].transport.aborted  # mid-response: never pooled
        assert CheckedExchange.made[0].path[-1] is State.ABORTED

    run(main)
