"""Byte-level forwarding through the fakes: the exact bytes a replica reads and a client
receives, for keep-alive, pipelining, bodies in both framings and the headers the proxy
adds and removes. No socket; time is virtual."""

from __future__ import annotations

import asyncio
import re

from changeover.proxy.fakes import CheckedExchange
from changeover.proxy.state import State
from tests.io.proxy.bytes_kit import Reply, Then, get, ok, rig, run, settle

S = State
FORWARDED = b"X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"


def paths() -> list[list[State]]:
    return [ex.path for ex in CheckedExchange.made]


def test_keep_alive_two_requests_share_one_client_and_one_upstream_connection() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(ok(b"one"), ok(b"two", b"Server: app"))
            client = r.client()
            first = await r.exchange(client, get(b"/a", b"t1"))
            second = await r.exchange(client, get(b"/b?q=1", b"t2"))
            assert first == b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Request-Id: t1\r\n\r\none"
            assert second == (
                b"HTTP/1.1 200 OK\r\nServer: app\r\nContent-Length: 3\r\n"
                b"X-Request-Id: t2\r\n\r\ntwo"
            )
            (session,) = replica.sessions  # the second request reused the pooled connection
            assert session.requests == [
                b"GET /a HTTP/1.1\r\nHost: h\r\n" + FORWARDED + b"X-Request-Id: t1\r\n\r\n",
                b"GET /b?q=1 HTTP/1.1\r\nHost: h\r\n" + FORWARDED + b"X-Request-Id: t2\r\n\r\n",
            ]
            assert not client.closed
            assert not session.transport.closed
            assert r.proxy.metrics()["endpoints"]["r1-1"] == {
                "revision": 1,
                "routable": True,
                "inflight": 0,
                "tunnels": 0,
                "idle_connections": 1,
            }
        assert paths() == [
            [S.HEAD, S.CONNECTING, S.AWAITING, S.STREAMING, S.DONE],
            [S.HEAD, S.SENDING, S.AWAITING, S.STREAMING, S.DONE],
        ]

    run(main)


def test_pipelined_requests_in_one_write_are_answered_in_order() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(Reply(ok(b"slow"), after=1.0), ok(b"fast"))
            client = r.client()
            client.feed(get(b"/1", b"a") + get(b"/2", b"b"))
            await settle()
            # The second waits its turn: not forwarded, and the client's reads are paused.
            assert client.take() == b""
            assert len(replica.requests) == 1
            assert not client.reading
            await asyncio.sleep(1.0)
            assert client.take() == (
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Request-Id: a\r\n\r\nslow"
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Request-Id: b\r\n\r\nfast"
            )
            assert [req.split(b" ")[1] for req in replica.requests] == [b"/1", b"/2"]
            assert client.reading
        assert paths()[1] == [S.HEAD, S.QUEUED, S.AWAITING, S.STREAMING, S.DONE]

    run(main)


def test_chunked_request_is_rechunked_without_extensions_or_trailers() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(ok())
            client = r.client()
            reply = await r.exchange(
                client,
                b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-Request-Id: t\r\n"
                b"\r\n5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: dropped\r\n\r\n",
            )
            assert reply == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Request-Id: t\r\n\r\nok"
            assert replica.requests == [
                b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                + FORWARDED
                + b"X-Request-Id: t\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            ]

    run(main)


def test_a_body_arriving_in_pieces_streams_to_the_replica_as_it_comes() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(ok())
            client = r.client()
            head = b"PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nX-Request-Id: t\r\n\r\n"
            assert await r.exchange(client, head + b"01234") == b""
            (session,) = replica.sessions
            forwarded = (
                b"PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n"
                + FORWARDED
                + b"X-Request-Id: t\r\n\r\n"
            )
            assert bytes(session.transport.written) == forwarded + b"01234"
            assert await r.exchange(client, b"56789") == (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Request-Id: t\r\n\r\nok"
            )
            assert replica.requests == [forwarded + b"0123456789"]
        assert paths() == [[S.HEAD, S.CONNECTING, S.SENDING, S.AWAITING, S.STREAMING, S.DONE]]

    run(main)


def test_chunked_response_stays_chunked_and_loses_its_trailers() -> None:
    async def main() -> None:
        async with rig() as r:
            r.replica(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-Checksum: 1\r\n\r\n"
            )
            client = r.client()
            reply = await r.exchange(client, get())
            assert reply == (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Request-Id: t\r\n\r\n"
                b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
            )

    run(main)


def test_close_delimited_response_is_chunked_for_an_http11_client_that_stays_open() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(
                Reply(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", Then.CLOSE)
            )
            client = r.client()
            reply = await r.exchange(client, get())
            assert reply == (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Request-Id: t\r\n\r\n"
                b"d\r\nuntil the end\r\n0\r\n\r\n"
            )
            assert not client.closed
            assert replica.sessions[0].transport.closed
            assert r.proxy.metrics()["endpoints"]["r1-1"]["idle_connections"] == 0

    run(main)


def test_http10_client_gets_a_length_and_a_close() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(ok(b"old"))
            client = r.client()
            reply = await r.exchange(client, get().replace(b"HTTP/1.1", b"HTTP/1.0"))
            assert reply == (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n"
                b"X-Request-Id: t\r\n\r\nold"
            )
            assert client.eof_written  # half-closed: the response can't be lost to a RST
            assert replica.requests[0].startswith(b"GET / HTTP/1.1\r\n")  # upstream is 1.1

    run(main)


def test_hop_by_hop_headers_go_and_forwarding_headers_are_appended() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(
                b"HTTP/1.1 200 OK\r\nConnection: X-Internal\r\nX-Internal: 1\r\n"
                b"Keep-Alive: timeout=5\r\nX-Request-Id: theirs\r\nContent-Length: 0\r\n\r\n"
            )
            client = r.client()
            reply = await r.exchange(
                client,
                b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\n"
                b"X-Secret: s\r\nKeep-Alive: 300\r\nTE: trailers\r\nProxy-Connection: x\r\n"
                b"X-Forwarded-For: 192.0.2.9\r\nX-Forwarded-Proto: https\r\n"
                b"X-Request-Id: t\r\n\r\n",
            )
            assert replica.requests == [
                b"GET / HTTP/1.1\r\nHost: h\r\n"
                b"X-Forwarded-For: 192.0.2.9, 198.51.100.7\r\nX-Forwarded-Proto: http\r\n"
                b"X-Forwarded-Host: h\r\nX-Request-Id: t\r\n\r\n"
            ]
            assert reply == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Request-Id: t\r\n\r\n"

    run(main)


def test_a_request_without_an_id_gets_one_that_travels_both_ways() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(ok(), ok())
            client = r.client()
            replies = [
                await r.exchange(client, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n") for _ in range(2)
            ]
            sent = [re.search(rb"X-Request-Id: (\S+)\r\n", req) for req in replica.requests]
            ids = [m.group(1) for m in sent if m is not None]
            assert len(ids) == 2
            assert ids[0] != ids[1]
            assert all(re.fullmatch(rb"[0-9a-f]{10}-[0-9a-f]+", i) for i in ids)
            assert replies == [
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Request-Id: %s\r\n\r\nok" % i
                for i in ids
            ]

    run(main)


def test_head_response_has_its_length_but_no_body() -> None:
    async def main() -> None:
        async with rig() as r:
            r.replica(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", ok(b"next"))
            client = r.client()
            head = await r.exchange(client, get(b"/", b"t", b"HEAD"))
            assert head == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Request-Id: t\r\n\r\n"
            after = await r.exchange(client, get(b"/", b"u"))
            assert after == b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Request-Id: u\r\n\r\nnext"

    run(main)


def test_100_continue_reaches_the_client_before_it_sends_the_body() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(Reply(b"HTTP/1.1 100 Continue\r\n\r\n", early=True), ok(b"got"))
            client = r.client()
            head = (
                b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n"
                b"X-Request-Id: t\r\n\r\n"
            )
            assert await r.exchange(client, head) == b"HTTP/1.1 100 Continue\r\n\r\n"
            assert await r.exchange(client, b"body") == (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Request-Id: t\r\n\r\ngot"
            )
            assert replica.requests[0].endswith(b"\r\n\r\nbody")
        assert paths() == [[S.HEAD, S.CONNECTING, S.SENDING, S.AWAITING, S.STREAMING, S.DONE]]

    run(main)
