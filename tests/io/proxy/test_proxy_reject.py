"""Malformed or ambiguous requests are answered 400, heads with too many fields 431, and
neither reaches an upstream."""

from __future__ import annotations

import pytest

from changeover.proxy.config import ProxyConfig
from tests.io.proxy.proxy_kit import Backend, Client, run, serving

HOST = b"Host: example.test\r\n"
CASES = {
    "cl-and-te": b"POST / HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-and-cl": b"POST / HTTP/1.1\r\n"
    + HOST
    + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello",
    "bad-cl": b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 5x\r\n\r\nhello",
    "negative-cl": b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: -5\r\n\r\n",
    "double-cl": b"POST / HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "differing-cl": b"POST / HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "bad-te": b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip\r\n\r\n",
    "te-not-final-chunked": b"POST / HTTP/1.1\r\n"
    + HOST
    + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "missing-host": b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
    "double-host": b"GET / HTTP/1.1\r\n" + HOST + HOST + b"\r\n",
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
    "bad-header-token": b"GET / HTTP/1.1\r\n" + HOST + b"Bad Header: x\r\n\r\n",
    "connect": b"CONNECT example.test:443 HTTP/1.1\r\n" + HOST + b"\r\n",
    "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "oversized-head": b"GET / HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n",
    # Fewer fields than max_headers (100), more bytes than max_header_bytes (64 KiB).
    "many-headers": b"GET / HTTP/1.1\r\n"
    + HOST
    + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(90))
    + b"\r\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_request_is_answered_400_and_never_forwarded(name: str) -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(CASES[name])
            resp = await client.response()
            assert resp.status == 400
            assert resp.body.startswith(b"400 Bad Request: ")
            assert resp.body.endswith(b"\n")
            assert resp.header("connection") == "close"
            assert await client.at_eof()
            await client.close()
            assert proxy.metrics()["rejected"] == 1
        assert backend.requests == []
        assert backend.connections == 0

    run(main)


def test_reason_is_stated_plainly() -> None:
    async def main() -> None:
        async with serving(Backend()) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(CASES["cl-and-te"])
            resp = await client.response()
            await client.close()
        assert b"Content-Length" in resp.body
        assert b"Transfer-Encoding" in resp.body

    run(main)


def test_head_trickled_in_small_pieces_is_still_limited() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(b"GET / HTTP/1.1\r\n" + HOST + b"X-Big: ")
            for _ in range(50):  # 200 KB in 4 KB writes, never completing the header
                await client.send(b"a" * 4096)
            resp = await client.response()
            assert resp.status == 400
            await client.close()
        assert backend.requests == []

    run(main)


def test_earlier_pipelined_requests_are_answered_before_the_400() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            good = b"GET /ok HTTP/1.1\r\n" + HOST + b"\r\n"
            await client.send(good + CASES["cl-and-te"] + good)
            first = await client.response()
            second = await client.response()
            assert (first.status, first.body) == (200, b"rev 1 /ok")
            assert second.status == 400
            assert await client.at_eof()
            await client.close()
        assert [m.target for m in backend.requests] == ["/ok"]

    run(main)


def test_5000_small_header_fields_get_a_431_and_never_reach_the_backend() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            fields = b"".join(b"X-%d: v\r\n" % i for i in range(5000))  # 46 KB: under 64 KiB
            await client.send(b"GET / HTTP/1.1\r\n" + HOST + fields + b"\r\n")
            resp = await client.response()
            assert resp.status == 431
            assert resp.body == (
                b"431 Request Header Fields Too Large: more than 100 request header fields\n"
            )
            assert resp.header("connection") == "close"
            assert await client.at_eof()
            await client.close()
            assert proxy.metrics()["rejected"] == 1
        assert backend.connections == 0

    run(main)


def test_slow_head_gets_408_and_is_closed() -> None:
    async def main() -> None:
        backend = Backend()
        config = ProxyConfig(header_timeout=0.2)
        async with serving(backend, config=config) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(b"GET / HTTP/1.1\r\nHost: exa")
            resp = await client.response()
            assert resp.status == 408
            assert await client.at_eof()
            await client.close()
        assert backend.requests == []

    run(main)
