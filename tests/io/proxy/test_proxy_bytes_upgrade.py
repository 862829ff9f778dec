"""Byte-level Upgrade/101 through the fakes: the tunnel relays bytes unchanged both ways,
bytes sent early are not lost, a refused upgrade leaves plain HTTP, and a tunnel never
holds a drain."""

from __future__ import annotations

from changeover.proxy.fakes import CheckedExchange
from changeover.proxy.state import State
from tests.io.proxy.bytes_kit import Reply, Then, get, ok, rig, run, settle

S = State
UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n"
    b"X-Request-Id: t1\r\n\r\n"
)
SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"


def test_upgrade_splices_a_byte_tunnel_that_relays_both_ways() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(SWITCH + b"hello|")
            client = r.client()
            # Bytes sent right behind the upgrade request wait for the tunnel.
            reply = await r.exchange(client, UPGRADE + b"early|")
            assert reply == (
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n"
                b"X-Request-Id: t1\r\n\r\nhello|"
            )
            (session,) = replica.sessions
            assert bytes(session.transport.written) == (
                b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: echo\r\n"
                b"X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: http\r\n"
                b"X-Forwarded-Host: h\r\nX-Request-Id: t1\r\n\r\nearly|"
            )
            session.transport.take()
            assert await r.exchange(client, b"\x00GET / HTTP/1.1\r\n\r\n") == b""
            assert session.transport.take() == b"\x00GET / HTTP/1.1\r\n\r\n"  # not parsed
            session.transport.feed(b"\xff pong")
            await settle()
            assert client.take() == b"\xff pong"
            # Counted as a tunnel, not in flight: a drain does not wait for it.
            endpoint = r.proxy.metrics()["endpoints"]["r1-1"]
            assert (endpoint["inflight"], endpoint["tunnels"]) == (0, 1)
            assert await r.proxy.drain("r1-1", 0.001)
            session.transport.feed_eof()  # the replica closes: so does the client
            await settle()
            assert client.closed
            assert r.proxy.metrics()["endpoints"]["r1-1"]["tunnels"] == 0
        assert [ex.path for ex in CheckedExchange.made] == [
            [S.HEAD, S.CONNECTING, S.AWAITING, S.UPGRADING, S.UPGRADED]
        ]

    run(main)


def test_a_client_closing_the_tunnel_closes_the_replica_side() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(SWITCH)
            client = r.client()
            await r.exchange(client, UPGRADE)
            client.reset()
            await settle()
            assert replica.sessions[0].transport.aborted  # a reset travels as a reset

    run(main)


def test_a_refused_upgrade_is_a_plain_response_and_http_goes_on() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(ok(b"no"), ok(b"next"))
            client = r.client()
            refused = await r.exchange(client, UPGRADE)
            assert refused == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Request-Id: t1\r\n\r\nno"
            after = await r.exchange(client, get(b"/n", b"t2"))
            assert after == b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Request-Id: t2\r\n\r\nnext"
            assert len(replica.requests) == 2

    run(main)


def test_a_101_nobody_asked_for_is_a_502() -> None:
    async def main() -> None:
        async with rig() as r:
            r.replica(Reply(SWITCH, Then.KEEP))
            client = r.client()
            reply = await r.exchange(client, get())
            assert reply.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
            assert reply.endswith(b"upstream r1-1 switched protocols without being asked to\n")

    run(main)
