"""Failure handling: 502/503/504, retries only when safe, aborts that stay visible."""

from __future__ import annotations

import asyncio

from changeover.proxy.config import ProxyConfig
from changeover.proxy.server import Proxy
from tests.io.proxy.proxy_kit import (
    LOOPBACK,
    Backend,
    Client,
    blackhole,
    build,
    eventually,
    listening_socket,
    run,
    serving,
)


def test_no_endpoints_gives_503_and_counts_unrouted() -> None:
    async def main() -> None:
        proxy = Proxy()
        await proxy.serve(listening_socket())
        try:
            client = await Client.connect(proxy.address)
            resp = await client.request("GET", "/")
            assert resp.status == 503
            assert resp.body.startswith(b"503 Service Unavailable: ")
            # A 503 is a complete response: the connection stays usable.
            assert (await client.request("HEAD", "/")).status == 503
            await client.close()
            assert proxy.metrics()["unrouted"] == 2
        finally:
            await proxy.shutdown(1.0)

    run(main)


def test_added_but_not_routable_endpoint_gets_no_traffic() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend, routable=False) as proxy:
            client = await Client.connect(proxy.address)
            assert (await client.request("GET", "/")).status == 503
            proxy.set_routable("r1-1", True)
            assert (await client.request("GET", "/")).status == 200
            await client.close()
        assert len(backend.requests) == 1

    run(main)


def test_upstream_closing_without_response_gives_502() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            resp = await client.request("GET", "/close")
            assert resp.status == 502
            assert b"r1-1" in resp.body
            assert b"closed the connection" in resp.body
            assert (await client.request("GET", "/fine")).status == 200
            await client.close()
            rev = proxy.metrics()["revisions"]["1"]
            assert rev["proxy_errors"]["502"] == 1
            assert rev["status"]["5xx"] == 1
            assert rev["status"]["2xx"] == 1
        assert len(backend.requests) == 2  # the failed request was not retried

    run(main)


def test_reset_after_reading_the_request_is_502_and_never_retried() -> None:
    async def main() -> None:
        first, second = Backend(name="r1-1"), Backend(name="r1-2")
        async with serving(first, second) as proxy:
            client = await Client.connect(proxy.address)
            resp = await client.request("POST", "/reset", body=b"once")
            await client.close()
            assert proxy.inflight("r1-1") == proxy.inflight("r1-2") == 0
        assert resp.status == 502
        assert b"broke the connection" in resp.body
        # The request reached exactly one application, exactly once: no retry.
        assert [m.body for m in first.requests + second.requests] == [b"once"]

    run(main)


def test_response_timeout_gives_504() -> None:
    async def main() -> None:
        backend = Backend()
        config = ProxyConfig(response_timeout=0.3)
        async with serving(backend, config=config) as proxy:
            client = await Client.connect(proxy.address)
            resp = await client.request("GET", "/hang")
            assert resp.status == 504
            assert b"did not start responding" in resp.body
            assert proxy.inflight("r1-1") == 0
            await eventually(lambda: backend.closed == 1, "upstream connection to be aborted")
            assert proxy.metrics()["revisions"]["1"]["proxy_errors"]["504"] == 1
            await client.close()

    run(main)


def test_connect_refused_is_retried_on_a_healthy_endpoint() -> None:
    async def main() -> None:
        healthy = Backend(name="r1-2")
        async with serving(healthy) as proxy:
            dead = listening_socket()
            dead_port = dead.getsockname()[1]
            dead.close()  # nothing listens there any more: connect is refused
            proxy.add_endpoint("r1-1", 1, LOOPBACK, dead_port)
            proxy.set_routable("r1-1", True)
            client = await Client.connect(proxy.address)
            statuses = [(await client.request("GET", f"/{i}")).status for i in range(6)]
            await client.close()
            assert statuses == [200] * 6
            assert proxy.inflight("r1-1") == 0
            assert proxy.metrics()["revisions"]["1"]["proxy_errors"]["502"] == 0
        assert len(healthy.requests) == 6

    run(main)


def test_all_endpoints_refusing_gives_502() -> None:
    async def main() -> None:
        proxy = Proxy()
        await proxy.serve(listening_socket())
        try:
            for name in ("r1-1", "r1-2"):
                dead = listening_socket()
                proxy.add_endpoint(name, 1, LOOPBACK, dead.getsockname()[1])
                dead.close()
                proxy.set_routable(name, True)
            client = await Client.connect(proxy.address)
            resp = await client.request("GET", "/")
            await client.close()
            assert resp.status == 502
            assert b"could not connect" in resp.body
            assert proxy.inflight("r1-1") == proxy.inflight("r1-2") == 0
        finally:
            await proxy.shutdown(1.0)

    run(main)


def test_failure_after_the_head_was_sent_aborts_the_client() -> None:
    async def handler(
        b: Backend, msg: object, reader: object, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
        await writer.drain()
        writer.transport.abort()
        return False

    async def main() -> None:
        backend = Backend(handler=handler)
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(build("GET", "/"))
            head = await client.response(head=True)
            assert head.header("content-length") == "1000"
            rest = b""
            try:
                while chunk := await client.reader.read(4096):
                    rest += chunk
            except ConnectionError:
                pass
            assert len(rest) < 1000  # the client can tell the body is incomplete
            await client.close()
            await eventually(lambda: proxy.inflight("r1-1") == 0, "in-flight to drop")
            assert proxy.metrics()["revisions"]["1"]["aborted"] == 1

    run(main)


def test_client_disconnect_mid_response_releases_inflight_and_upstream() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(build("GET", "/gate"))
            await eventually(lambda: len(backend.requests) == 1, "request to reach upstream")
            assert proxy.inflight("r1-1") == 1
            await client.close()
            await eventually(lambda: proxy.inflight("r1-1") == 0, "in-flight to drop")
            await eventually(lambda: backend.closed == 1, "upstream connection to be aborted")
            assert proxy.metrics()["endpoints"]["r1-1"]["idle_connections"] == 0
            assert proxy.metrics()["revisions"]["1"]["aborted"] == 1

    run(main)


def test_invalid_upstream_response_gives_502() -> None:
    async def handler(
        b: Backend, msg: object, reader: object, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(b"HTTQ/9 nonsense\r\n\r\n")
        return True

    async def main() -> None:
        async with serving(Backend(handler=handler)) as proxy:
            client = await Client.connect(proxy.address)
            resp = await client.request("GET", "/")
            await client.close()
        assert resp.status == 502
        assert b"invalid response" in resp.body

    run(main)


def test_connect_timeout_is_retried_on_a_healthy_endpoint() -> None:
    async def main() -> None:
        healthy = Backend(name="r1-2")
        config = ProxyConfig(connect_timeout=0.2)
        with blackhole() as port:
            async with serving(healthy, config=config) as proxy:
                proxy.set_routable("r1-2", False)
                proxy.add_endpoint("r1-1", 1, LOOPBACK, port)
                proxy.set_routable("r1-1", True)
                client = await Client.connect(proxy.address)
                alone = await client.request("GET", "/")
                assert alone.status == 502
                assert b"could not connect to upstream r1-1" in alone.body
                proxy.set_routable("r1-2", True)
                statuses = [(await client.request("GET", f"/{i}")).status for i in range(4)]
                await client.close()
                assert statuses == [200] * 4
                assert proxy.inflight("r1-1") == 0

    run(main)


def test_client_leaving_while_the_proxy_connects_cleans_up() -> None:
    async def main() -> None:
        with blackhole() as port:
            async with serving(config=ProxyConfig(connect_timeout=5.0)) as proxy:
                proxy.add_endpoint("r1-1", 1, LOOPBACK, port)
                proxy.set_routable("r1-1", True)
                client = await Client.connect(proxy.address)
                await client.send(build("GET", "/"))
                await eventually(lambda: proxy.inflight("r1-1") == 1, "request assigned")
                await client.close()
                await eventually(lambda: proxy.inflight("r1-1") == 0, "assignment released")
                assert proxy.metrics()["revisions"]["1"]["aborted"] == 1

    run(main)
