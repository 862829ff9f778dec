"""Edge cases: early responses, broken bodies mid-stream, slow uploads, HTTP/1.0."""

from __future__ import annotations

import asyncio

from changeover.proxy.config import ProxyConfig
from tests.io.proxy.proxy_kit import (
    Backend,
    Client,
    build,
    eventually,
    read_head,
    respond,
    run,
    serving,
)


def test_response_before_the_body_is_read_keeps_the_client_connection() -> None:
    async def main() -> None:
        # This backend answers as soon as it has the head, without reading the body.
        seen: list[bytes] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            seen.append(head)
            writer.write(respond(413, b"too big"))
            await writer.drain()
            await reader.read()  # wait for the proxy to drop the connection
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        backend = Backend()
        async with serving(backend) as proxy:
            proxy.add_endpoint("early", 1, "127.0.0.1", server.sockets[0].getsockname()[1])
            proxy.set_routable("early", True)
            proxy.set_routable("r1-1", False)
            client = await Client.connect(proxy.address)
            head = build("POST", "/upload", {"Content-Length": str(300_000)})
            await client.send(head + b"x" * 100_000)
            resp = await client.response()
            assert (resp.status, resp.body) == (413, b"too big")
            await client.send(b"x" * 200_000)  # rest of the body: discarded by the proxy
            proxy.set_routable("early", False)
            proxy.set_routable("r1-1", True)
            assert (await client.request("GET", "/next")).body == b"rev 1 /next"
            await eventually(lambda: proxy.inflight("early") == 0, "early exchange to finish")
            assert proxy.metrics()["endpoints"]["early"]["idle_connections"] == 0
            await client.close()
        server.close()
        await server.wait_closed()
        assert len(seen) == 1

    run(main)


def test_malformed_chunk_after_forwarding_started_gives_400_and_resets_upstream() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            head = build("POST", "/echo", {"Transfer-Encoding": "chunked"})
            await client.send(head + b"5\r\nhello\r\n")
            await eventually(lambda: backend.connections == 1, "request head to be forwarded")
            await client.send(b"zz-not-hex\r\n")
            resp = await client.response()
            assert resp.status == 400
            assert await client.at_eof()
            await client.close()
            await eventually(lambda: backend.closed == 1, "upstream to see the abort")
            assert proxy.inflight("r1-1") == 0
        assert backend.requests == []  # the app never got a complete request

    run(main)


def test_slow_upload_is_not_cut_off_by_the_response_timeout() -> None:
    async def main() -> None:
        backend = Backend()
        config = ProxyConfig(response_timeout=0.5)
        async with serving(backend, config=config) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(build("POST", "/echo", {"Content-Length": "40"}))
            for _ in range(8):  # 8 x 0.1 s: longer than the response timeout in total
                await client.send(b"x" * 5)
                await asyncio.sleep(0.1)
            resp = await client.response()
            await client.close()
        assert (resp.status, resp.body) == (200, b"x" * 40)

    run(main)


def test_interim_responses_are_not_sent_to_http10_clients() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(
                b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"
            )
            first = await read_head(client.reader)
            assert first is not None
            assert first.status == 200
            await client.close()

    run(main)
