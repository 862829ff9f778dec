"""Forwarding through real sockets: keep-alive, bodies, framing, pipelining, headers."""

from __future__ import annotations

import asyncio
import os

from tests.io.proxy.proxy_kit import Backend, Client, build, eventually, run, serving


def test_keep_alive_requests_reuse_one_upstream_connection() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            for i in range(5):
                resp = await client.request("GET", f"/item/{i}")
                assert resp.status == 200
                assert resp.body == f"rev 1 /item/{i}".encode()
            await client.close()
            assert backend.connections == 1
            assert [m.conn for m in backend.requests] == [0] * 5
            assert proxy.metrics()["endpoints"]["r1-1"]["idle_connections"] == 1

    run(main)


def test_content_length_body_of_one_megabyte_arrives_intact() -> None:
    async def main() -> None:
        backend = Backend()
        payload = os.urandom(1 << 20)
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            resp = await client.request("POST", "/echo", body=payload)
            await client.close()
        assert backend.requests[0].body == payload
        assert backend.requests[0].header("content-length") == str(len(payload))
        assert resp.body == payload

    run(main)


def test_chunked_request_body_is_forwarded_chunked_and_intact() -> None:
    async def main() -> None:
        backend = Backend()
        payload = os.urandom(1 << 20)
        pieces = [payload[i : i + 70000] for i in range(0, len(payload), 70000)]
        encoded = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            head = build("POST", "/echo", {"Transfer-Encoding": "chunked"})
            await client.send(head + encoded)
            resp = await client.response()
            await client.close()
        seen = backend.requests[0]
        assert seen.header("transfer-encoding") == "chunked"
        assert seen.body == payload
        assert resp.body == payload

    run(main)


def test_chunked_and_close_delimited_responses_are_relayed() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            chunked = await client.request("GET", "/chunked")
            assert chunked.body == b"hello chunked world"
            assert chunked.header("transfer-encoding") == "chunked"
            eof = await client.request("GET", "/eof")
            # Close-delimited upstream becomes chunked for an HTTP/1.1 client ...
            assert eof.body == b"until the end"
            assert eof.header("transfer-encoding") == "chunked"
            # ... and the client connection stays usable.
            again = await client.request("GET", "/after")
            assert again.body == b"rev 1 /after"
            await client.close()

    run(main)


def test_close_delimited_response_to_http10_client_closes_the_connection() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(b"GET /eof HTTP/1.0\r\n\r\n")
            head = await client.response(head=True)
            assert head.header("transfer-encoding") is None
            assert await client.reader.read() == b"until the end"
            await client.close()

    run(main)


def test_http10_keep_alive_is_honoured_and_plain_http10_closes() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            first = await client.response()
            assert first.header("connection") == "keep-alive"
            await client.send(b"GET /b HTTP/1.0\r\n\r\n")
            second = await client.response()
            assert second.body == b"rev 1 /b"
            assert await client.at_eof()
            await client.close()
        assert backend.requests[0].header("host") == ""

    run(main)


def test_head_204_and_304_responses_have_no_body() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            head = await client.request("HEAD", "/thing")
            assert head.header("content-length") == str(len(b"rev 1 /thing"))
            for status in (204, 304):
                resp = await client.request("GET", f"/status/{status}")
                assert resp.status == status
            # Had any body bytes leaked, this response would be misparsed.
            last = await client.request("GET", "/last")
            assert last.body == b"rev 1 /last"
            await client.close()
        assert backend.connections == 1

    run(main)


def test_expect_100_continue_is_relayed_before_the_final_response() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            head = build("POST", "/echo", {"Expect": "100-continue", "Content-Length": "5"})
            await client.send(head)
            interim = await client.response(interim=True)
            assert interim.status == 100
            await client.send(b"hello")
            final = await client.response()
            assert (final.status, final.body) == (200, b"hello")
            await client.close()
        assert backend.requests[0].header("expect") == "100-continue"

    run(main)


def test_pipelined_requests_are_answered_in_order() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            burst = b"".join(build("GET", f"/p{i}") for i in range(20))
            burst += build("POST", "/echo", body=b"tail")
            await client.send(burst)
            bodies = [(await client.response()).body for _ in range(21)]
            await client.close()
        assert bodies == [f"rev 1 /p{i}".encode() for i in range(20)] + [b"tail"]

    run(main)


def test_forwarding_headers_and_request_id() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            given = await client.request(
                "GET", "/", {"X-Forwarded-For": "203.0.113.7", "X-Request-Id": "abc-123"}
            )
            minted = await client.request("GET", "/")
            await client.close()
        first, second = backend.requests
        assert first.header("x-forwarded-for") == "203.0.113.7, 127.0.0.1"
        assert first.header("x-forwarded-proto") == "http"
        assert first.header("x-forwarded-host") == "example.test"
        assert first.header("host") == "example.test"
        assert first.header("x-request-id") == given.header("x-request-id") == "abc-123"
        generated = second.header("x-request-id")
        assert generated
        assert generated == minted.header("x-request-id")
        assert generated != "abc-123"

    run(main)


def test_large_response_streams_through_a_slow_reader() -> None:
    async def main() -> None:
        backend = Backend()
        size = 8 << 20
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(build("GET", f"/big?{size}"))
            head = await client.response(head=True)
            got = 0
            while got < size:
                chunk = await client.reader.read(65536)
                assert chunk
                got += len(chunk)
                await asyncio.sleep(0)  # let buffers fill so pause/resume_writing engage
            assert head.header("content-length") == str(size)
            await eventually(lambda: proxy.inflight("r1-1") == 0, "exchange to finish")
            await client.close()

    run(main)
