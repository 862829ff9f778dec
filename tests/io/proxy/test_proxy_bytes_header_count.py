"""Byte-level tests of the header-count limit (`max_headers`, 431) through the fakes: the
limit counts the fields of a request head, never the trailers of a chunked body, and a
refused request never reaches a replica."""

from __future__ import annotations

import pytest

from changeover.proxy.config import ProxyConfig
from changeover.proxy.fakes import CheckedExchange
from changeover.proxy.state import State
from tests.io.proxy.bytes_kit import ok, rig, run, settle

S = State
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Request-Id: t\r\n\r\nok"


def fields(count: int) -> bytes:
    """`count` header lines: Host, X-Request-Id, then fillers."""
    lines = [b"Host: h", b"X-Request-Id: t"] + [b"X-F%d: v" % i for i in range(count - 2)]
    return b"".join(line + b"\r\n" for line in lines)


def request(count: int, method: bytes = b"GET") -> bytes:
    return method + b" /x HTTP/1.1\r\n" + fields(count) + b"\r\n"


def refusal(limit: int) -> bytes:
    body = b"431 Request Header Fields Too Large: more than %d request header fields\n" % limit
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % len(body)
    ) + body


def test_the_default_limit_is_100_fields() -> None:
    assert ProxyConfig().max_headers == 100


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "100"])
def test_the_limit_is_an_integer_of_at_least_1(bad: object) -> None:
    with pytest.raises(ValueError, match="max_headers must be"):
        ProxyConfig(max_headers=bad)  # type: ignore[arg-type]


def test_100_fields_are_forwarded() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(ok())
            client = r.client()
            assert await r.exchange(client, request(100)) == OK
            (forwarded,) = replica.requests
            assert b"X-F97: v\r\n" in forwarded  # the last filler: every field went through
            assert r.proxy.metrics()["rejected"] == 0
            assert not client.closed

    run(main)


def test_101_fields_get_a_431_the_connection_closes_and_no_replica_sees_it() -> None:
    async def main() -> None:
        async with rig() as r:
            replica = r.replica(ok())
            client = r.client()
            assert await r.exchange(client, request(101)) == refusal(100)
            assert client.eof_written  # lingering close: the 431 is not lost to a RST
            assert replica.attempts == 0
            assert r.proxy.metrics()["rejected"] == 1
        assert CheckedExchange.made[0].path == [S.HEAD, S.DONE]

    run(main)


def test_the_limit_comes_from_the_config() -> None:
    async def main() -> None:
        async with rig(ProxyConfig(max_headers=3)) as r:
            replica = r.replica(ok(), ok())
            assert await r.exchange(r.client(1), request(3)) == OK
            assert await r.exchange(r.client(2), request(4)) == refusal(3)
            assert len(replica.requests) == 1

    run(main)


def test_a_head_is_refused_at_the_first_field_over_the_limit_before_it_ends() -> None:
    async def main() -> None:
        async with rig(ProxyConfig(max_headers=10)) as r:
            r.replica(ok())
            client = r.client()
            client.feed(b"GET /x HTTP/1.1\r\n" + fields(10))
            await settle()
            assert client.take() == b""  # at the limit, still waiting for the rest
            # httptools hands a field over once the next one begins; the head never ends.
            client.feed(b"X-One: too many\r\nX-Tw")
            await settle()
            assert client.take() == refusal(10)

    run(main)


def test_the_trailers_of_a_chunked_body_do_not_count() -> None:
    async def main() -> None:
        async with rig(ProxyConfig(max_headers=4)) as r:
            replica = r.replica(ok(), ok(), ok())
            client = r.client()
            head = b"POST /up HTTP/1.1\r\n" + fields(3) + b"Transfer-Encoding: chunked\r\n\r\n"
            trailers = b"".join(b"X-T%d: v\r\n" % i for i in range(10))
            body = b"5\r\nhello\r\n0\r\n" + trailers + b"\r\n"
            assert await r.exchange(client, head + body) == OK
            assert replica.requests[0].endswith(b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            # Trailers arriving over several reads: the check after each read skips them too.
            for piece in (head + b"5\r\nhello\r\n0\r\n", trailers[:40], trailers[40:] + b"\r\n"):
                client.feed(piece)
                await settle()
            assert client.take() == OK
            # Each head is counted afresh: the next request may have 4 fields again.
            assert await r.exchange(client, request(4)) == OK
            assert r.proxy.metrics()["rejected"] == 0

    run(main)


def test_a_refused_request_pipelined_behind_another_is_answered_in_its_turn() -> None:
    async def main() -> None:
        async with rig(ProxyConfig(max_headers=5)) as r:
            replica = r.replica(ok())
            client = r.client()
            reply = await r.exchange(client, request(5) + request(6) + request(2))
            assert reply == OK + refusal(5)  # the third request is never parsed
            assert len(replica.requests) == 1
            assert r.proxy.metrics()["rejected"] == 1

    run(main)
