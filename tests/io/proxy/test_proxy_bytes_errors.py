"""Byte-level failure paths through the fakes: every 4xx/5xx the proxy answers itself,
retries only when no byte reached an application, truncation made visible. Timeouts
run on virtual time: each test checks the moment just before the deadline too."""

from __future__ import annotations

import asyncio

import pytest

from changeover.proxy.config import ProxyConfig
from changeover.proxy.fakes import CheckedExchange
from changeover.proxy.state import State
from tests.io.proxy.bytes_kit import Connect, Reply, Then, ok, rig, run, settle

S = State
GET = b"GET /x HTTP/1.1\r\nHost: h\r\nX-Request-Id: t1\r\n\r\n"


def canned(status: bytes, detail: bytes, *headers: bytes) -> bytes:
    """A response the proxy makes itself: plain text, a length, then `headers`."""
    body = status + b": " + detail + b"\n"
    head = [b"HTTP/1.1 " + status, b"Content-Type: text/plain; charset=utf-8"]
    head += [b"Content-Length: %d" % len(body), *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    ("request_bytes", "detail"),
    [
        (b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"multiple Host headers"),
        (b"GET /x HTTP/1.1\r\nAccept: */*\r\n\r\n", b"missing Host header"),
        (
            b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"unsupported Transfer-Encoding (only chunked is accepted)",
        ),
        (
            b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n"
            b"Content-Length: 2\r\n\r\nab",
            b"an upgrade request cannot carry a body",
        ),
    ],
)
def test_requests_the_proxy_refuses_get_a_400_and_the_connection_closes(
    request_bytes: bytes, detail: bytes
) -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(ok())
            client = r.client()
            reply = await r.exchange(client, request_bytes)
            assert reply == canned(b"400 Bad Request", detail, b"Connection: close")
            assert client.eof_written  # lingering close: the 400 is not lost to a RST
            assert replica.attempts == 0
            assert r.proxy.metrics()["rejected"] == 1

    run(main)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /x HTTP/1.1 junk\r\nHost: h\r\n\r\n",  # malformed request line
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1e3\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # bad chunk
    ],
)
def test_malformed_or_ambiguous_framing_gets_a_400_before_any_byte_is_forwarded(
    request_bytes: bytes,
) -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(ok())
            client = r.client()
            reply = await r.exchange(client, request_bytes)
            head, _, body = reply.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
            assert b"\r\nConnection: close" in head
            assert b"\r\nContent-Length: %d" % len(body) in head
            # The parser's own words, after ours: ambiguous framing is llhttp's to refuse.
            assert body.startswith(b"400 Bad Request: malformed request (")
            assert replica.requests == []
            assert client.eof_written

    run(main)


def test_a_head_over_the_limit_gets_a_400() -> None:
    async def main() -> None:
        async with rig(ProxyConfig(max_header_bytes=1024)) as r:
            r.replica(ok())
            client = r.client()
            big = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n"
            assert await r.exchange(client, big) == canned(
                b"400 Bad Request", b"request head larger than 1024 bytes", b"Connection: close"
            )

    run(main)


def test_a_head_that_never_ends_gets_a_400_before_it_is_complete() -> None:
    async def main() -> None:
        async with rig(ProxyConfig(max_header_bytes=1024)) as r:
            r.replica(ok())
            client = r.client()
            client.feed(b"GET / HTTP/1.1\r\nHost: h\r\n")
            for _ in range(3):
                client.feed(b"X-Filler: " + b"b" * 500 + b"\r\n")
            await settle()
            assert client.take() == canned(
                b"400 Bad Request", b"request head over 1024 bytes", b"Connection: close"
            )

    run(main)


def test_a_head_not_received_in_time_gets_a_408_at_the_header_timeout() -> None:
    async def main() -> None:
        config = ProxyConfig(header_timeout=3.0)
        async with rig(config) as r:
            r.replica(ok())
            client = r.client()
            client.feed(b"GET /x HTTP/1.1\r\nHost: h\r\n")  # and nothing more
            await asyncio.sleep(3.0 - config.sweep_interval)
            assert client.take() == b""
            await asyncio.sleep(2 * config.sweep_interval)
            assert client.take() == canned(
                b"408 Request Timeout", b"request head not received in time", b"Connection: close"
            )
            assert r.proxy.metrics()["rejected"] == 1

    run(main)


def test_connect_refused_everywhere_gets_a_502_and_the_connection_lives_on() -> None:
    async def main() -> None:
        async with rig() as r:
            r.replica(connect=Connect.REFUSE)
            client = r.client()
            reply = await r.exchange(client, GET)
            assert reply == canned(
                b"502 Bad Gateway",
                b"could not connect to upstream r1-1: [Errno 111] Connection refused",
                b"X-Request-Id: t1",
            )
            assert not client.closed
            assert not client.eof_written
            assert r.proxy.metrics()["revisions"]["1"]["proxy_errors"]["502"] == 1

    run(main)


def test_a_refused_connect_is_retried_on_another_replica() -> None:
    async def main() -> None:
        async with rig() as r:
            refusing = r.replica(connect=Connect.REFUSE, name="r1-1")
            # Closes after each response: a retry has to open a new connection.
            healthy = r.replica(*[Reply(ok(b"fine"), Then.CLOSE)] * 2, name="r1-2")
            # Two clients: the balancer takes turns, so one of them is refused first.
            replies = [await r.exchange(r.client(port), GET) for port in (1, 2)]
            assert replies == [
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Request-Id: t1\r\n\r\nfine",
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Request-Id: t1\r\n\r\nfine",
            ]
            assert refusing.attempts == 1
            assert len(healthy.requests) == 2
        assert [S.HEAD, S.CONNECTING, S.CONNECTING, S.AWAITING, S.STREAMING, S.DONE] in [
            ex.path for ex in CheckedExchange.made
        ]

    run(main)


def test_a_connect_that_hangs_gets_a_502_at_the_connect_timeout() -> None:
    async def main() -> None:
        async with rig(ProxyConfig(connect_timeout=2.0)) as r:
            r.replica(connect=Connect.HANG)
            client = r.client()
            client.feed(GET)
            await asyncio.sleep(1.99)
            assert client.take() == b""
            await asyncio.sleep(0.02)
            assert client.take() == canned(
                b"502 Bad Gateway",
                b"could not connect to upstream r1-1: TimeoutError",
                b"X-Request-Id: t1",
            )

    run(main)


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (Reply(then=Then.RESET), b"upstream r1-1 broke the connection (connection reset by peer)"),
        (
            Reply(then=Then.CLOSE),
            b"upstream r1-1 closed the connection before completing the response",
        ),
        (
            Reply(b"HTTP/1.1 200 OK\r\nContent-Len", Then.RESET),
            b"upstream r1-1 broke the connection (connection reset by peer)",
        ),
        (
            Reply(b"garbage\r\n\r\n"),
            b"upstream r1-1 sent an invalid response (Expected HTTP/, RTSP/ or ICE/)",
        ),
    ],
)
def test_an_upstream_failing_after_the_request_reached_it_is_a_502_never_a_retry(
    reply: Reply, detail: bytes
) -> None:
    async def main() -> None:
        async with rig() as r:
            first = r.replica(reply, name="r1-1")
            second = r.replica(reply, name="r1-2", routable=False)
            client = r.client()
            assert await r.exchange(client, GET) == canned(
                b"502 Bad Gateway", detail, b"X-Request-Id: t1"
            )
            r.proxy.set_routable("r1-2", True)  # a retry now would have somewhere to go
            await settle()
            assert len(first.requests) == 1
            assert second.attempts == 0
            assert first.sessions[0].transport.closed  # never pooled

    run(main)


def test_an_upstream_closing_mid_body_aborts_the_client_so_the_cut_shows() -> None:
    async def main() -> None:
        async with rig() as r:
            r.replica(Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", Then.CLOSE))
            client = r.client()
            reply = await r.exchange(client, GET)
            assert reply == b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Request-Id: t1\r\n\r\nabcd"
            assert client.aborted
            assert r.proxy.metrics()["revisions"]["1"]["aborted"] == 1
        assert CheckedExchange.made[0].path[-2:] == [S.STREAMING, S.ABORTED]

    run(main)


def test_no_routable_replica_gets_a_503_and_the_connection_lives_on() -> None:
    async def main() -> None:
        async with rig() as r:
            r.replica(ok(), routable=False)
            client = r.client()
            assert await r.exchange(client, GET) == canned(
                b"503 Service Unavailable",
                b"no replica is available to serve this request",
                b"X-Request-Id: t1",
            )
            head = await r.exchange(client, GET.replace(b"GET", b"HEAD"))
            assert (
                head
                == canned(
                    b"503 Service Unavailable",
                    b"no replica is available to serve this request",
                    b"X-Request-Id: t1",
                ).partition(b"\r\n\r\n")[0]
                + b"\r\n\r\n"
            )  # HEAD: the same head, no body
            assert not client.closed
            assert r.proxy.metrics()["unrouted"] == 2

    run(main)


def test_an_upstream_silent_past_the_response_timeout_gets_a_504() -> None:
    async def main() -> None:
        config = ProxyConfig(response_timeout=5.0)
        async with rig(config) as r:
            replica = r.replica(Reply())  # reads the request, never answers
            client = r.client()
            client.feed(GET)
            await asyncio.sleep(5.0 - config.sweep_interval)
            assert client.take() == b""
            await asyncio.sleep(2 * config.sweep_interval)
            assert client.take() == canned(
                b"504 Gateway Timeout",
                b"upstream r1-1 did not start responding within 5s",
                b"X-Request-Id: t1",
            )
            assert replica.sessions[0].transport.aborted  # the app sees a reset
            assert r.proxy.metrics()["revisions"]["1"]["proxy_errors"]["504"] == 1

    run(main)


def test_the_response_clock_starts_when_the_upload_stops_moving() -> None:
    async def main() -> None:
        config = ProxyConfig(response_timeout=2.0)
        async with rig(config) as r:
            r.replica(ok())
            client = r.client()
            client.feed(
                b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\nX-Request-Id: t1\r\n\r\n"
            )
            for _ in range(6):  # 3 s of a slow but steady upload: no 504
                client.feed(b"x")
                await asyncio.sleep(0.5)
            assert client.take() == b""
            await asyncio.sleep(2.0 + 2 * config.sweep_interval)  # then it stalls
            assert client.take().startswith(b"HTTP/1.1 504 Gateway Timeout\r\n")

    run(main)
