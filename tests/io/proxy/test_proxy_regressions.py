"""Regression tests for bugs found in review; each names the failure it guards against."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Iterator

import pytest

from changeover.proxy.config import ProxyConfig
from changeover.proxy.downstream import Downstream
from changeover.proxy.headers import LENGTH, RequestHead, rewrite_request
from changeover.proxy.upstream import Upstream
from tests.io.proxy.proxy_kit import LOOPBACK, Backend, Client, build, eventually, run, serving

UPGRADE = {"Connection": "Upgrade", "Upgrade": "echo"}


def test_upgrade_request_answered_by_the_proxy_does_not_stall_the_connection() -> None:
    """A 503 to an upgrade request was sent before the parser stashed the bytes after it,
    so nothing ever replayed them: later requests on the connection hung."""

    async def main() -> None:
        backend = Backend()
        async with serving(backend, routable=False) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(build("GET", "/ws", UPGRADE) + build("GET", "/pipelined"))
            async with asyncio.timeout(5):
                assert (await client.response()).status == 503
                assert (await client.response()).status == 503
                proxy.set_routable("r1-1", True)
                again = await client.request("GET", "/keep-alive")
            assert again.body == b"rev 1 /keep-alive"
            await client.close()

    run(main)


def test_content_length_with_trailing_whitespace_is_accepted() -> None:
    """llhttp frames `Content-Length: 5 ` as 5 bytes but hands the value over with its
    trailing OWS; the proxy answered such valid requests 400."""

    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            for value in (b"5 ", b"5\t", b"5 \t "):
                await client.send(
                    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + value + b"\r\n\r\nhello"
                )
                resp = await client.response()
                assert (resp.status, resp.body) == (200, b"hello")
            await client.close()
        assert [m.header("content-length") for m in backend.requests] == ["5"] * 3

    run(main)


def test_content_length_is_forwarded_without_whitespace() -> None:
    head = rewrite_request(
        b"POST",
        b"/",
        True,
        [(b"Host", b"h"), (b"Content-Length", b"12 \t")],
        False,
        b"ip",
        b"http",
        lambda: b"id",
    )
    assert isinstance(head, RequestHead)
    assert head.body == LENGTH
    assert b"\r\nContent-Length: 12\r\n" in head.data


def test_endless_chunked_trailer_is_cut_off() -> None:
    """httptools buffers each header line whole, trailers included, and only the head was
    bounded: one client could grow a trailer without limit (memory, quadratic CPU)."""

    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            head = build("POST", "/echo", {"Transfer-Encoding": "chunked"})
            await client.send(head + b"5\r\nhello\r\n0\r\nX-Trailer: ")

            async def endless_trailer() -> None:
                with contextlib.suppress(ConnectionError):
                    for _ in range(512):  # 2 MB of one trailer line, never finished
                        await client.send(b"a" * 4096)

            sender = asyncio.ensure_future(endless_trailer())
            async with asyncio.timeout(5):
                resp = await client.response()
            assert resp.status == 400
            assert b"trailers over" in resp.body
            assert await client.at_eof()
            await sender
            await client.close()
            await eventually(lambda: proxy.inflight("r1-1") == 0, "exchange to be released")
        assert backend.requests == []  # the app never saw a complete request

    run(main)


def test_small_trailers_and_tiny_chunks_are_still_fine() -> None:
    async def main() -> None:
        backend = Backend()
        body = bytes(range(256)) * 80  # 20480 one-byte chunks: ~120 KB of chunk framing
        encoded = b"".join(b"1\r\n%s\r\n" % body[i : i + 1] for i in range(len(body)))
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            head = build("POST", "/echo", {"Transfer-Encoding": "chunked"})
            await client.send(head + encoded + b"0\r\nX-Checksum: abc\r\nX-More: 1\r\n\r\n")
            resp = await client.response()
            await client.close()
        assert (resp.status, resp.body) == (200, body)

    run(main)


def test_lingering_close_after_refused_upgrade_does_not_buffer_client_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While lingering (reading and discarding before close) the bytes went into the
    upgrade stash instead of being discarded: a client could make it grow for seconds."""
    largest = [0]
    data_received = Downstream.data_received

    def measuring(self: Downstream, data: bytes) -> None:
        data_received(self, data)
        largest[0] = max(largest[0], sum(map(len, self.stash or ())))

    monkeypatch.setattr(Downstream, "data_received", measuring)

    async def main() -> None:
        async with serving(Backend()) as proxy:
            client = await Client.connect(proxy.address)
            headers = {"Connection": "Upgrade, close", "Upgrade": "echo"}
            resp = await client.request("GET", "/refused", headers)
            assert (resp.status, resp.header("connection")) == (200, "close")
            for _ in range(64):  # 4 MB the proxy should read and throw away
                await client.send(b"x" * 65536)
            client.writer.write_eof()
            assert await client.at_eof()
            await client.close()
            await eventually(lambda: not proxy.metrics()["endpoints"]["r1-1"]["inflight"], "end")
        assert largest[0] < 1 << 20

    run(main)


@pytest.fixture
def slammer() -> Iterator[tuple[int, threading.Event]]:
    """A replica (own thread) that accepts each connection and closes it at once."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(16)
    closed_one = threading.Event()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # listener closed: test over
            conn.close()
            closed_one.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], closed_one
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
    listener.close()
    thread.join(5)


@pytest.mark.skipif(
    os.environ.get("PROXY_TEST_LOOP") == "asyncio",
    reason="uvloop order: the stdlib loop writes the request before it reads the FIN",
)
def test_fresh_connection_closed_before_the_request_was_written_is_retried(
    slammer: tuple[int, threading.Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connect succeeded but the replica closed before the proxy wrote a byte: the
    write was silently dropped and the client got a 502 although a retry was safe."""
    port, closed_one = slammer
    connection_made = Upstream.connection_made

    def until_the_replica_closed(self: Upstream, transport: asyncio.BaseTransport) -> None:
        connection_made(self, transport)
        if self.endpoint.replica_id == "slams":
            # Hold the loop until the replica has closed, so its FIN is read before the
            # proxy gets to write the request (the race, made deterministic).
            assert closed_one.wait(5)
            closed_one.clear()

    monkeypatch.setattr(Upstream, "connection_made", until_the_replica_closed)

    async def main() -> None:
        healthy = Backend(name="r1-2")
        async with serving(healthy, routable=False) as proxy:
            proxy.add_endpoint("slams", 1, LOOPBACK, port)
            proxy.set_routable("slams", True)
            proxy.set_routable("r1-2", True)
            client = await Client.connect(proxy.address)
            statuses = [(await client.request("GET", f"/{i}")).status for i in range(4)]
            await client.close()
            assert proxy.inflight("slams") == 0
        assert statuses == [200] * 4
        assert len(healthy.requests) == 4

    run(main)


def test_client_leaving_just_as_the_upstream_connects_leaks_no_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelling the connect task after the TCP connection was made but before the task
    resumed: uvloop closes the socket but never calls connection_lost, so the connection
    stayed in the proxy's live set for ever (a leak, and shutdown waited on it)."""
    connection_made = Upstream.connection_made

    def client_vanishes_now(self: Upstream, transport: asyncio.BaseTransport) -> None:
        connection_made(self, transport)
        for client in tuple(self.ctx.clients):
            client.transport.abort()  # its connection_lost runs before the task resumes

    monkeypatch.setattr(Upstream, "connection_made", client_vanishes_now)

    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            for _ in range(3):
                client = await Client.connect(proxy.address)
                await client.send(build("GET", "/"))
                assert await client.at_eof()
                await client.close()
            await eventually(lambda: proxy.inflight("r1-1") == 0, "assignments released")
            await eventually(lambda: backend.closed == backend.connections == 3, "closed")
            live = proxy._ctx.upstreams  # the set shutdown waits on
            await eventually(lambda: not live, "live upstream set to empty", within=3)
            assert proxy.metrics()["revisions"]["1"]["aborted"] == 3

    run(main)


def test_partial_head_pipelined_behind_a_request_still_gets_the_header_timeout() -> None:
    """After the in-flight exchange finished, the connection's deadline became the idle
    timeout even though a request head had already started: header_timeout was skipped."""

    async def main() -> None:
        backend = Backend()
        config = ProxyConfig(header_timeout=0.2, idle_timeout=30.0)
        async with serving(backend, config=config) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(build("GET", "/gate") + b"GET /next HTTP/1.1\r\nHo")
            await eventually(lambda: proxy.inflight("r1-1") == 1, "first request in flight")
            backend.gate.set()
            assert (await client.response()).body == b"opened"
            async with asyncio.timeout(5):  # far below idle_timeout, far above header_timeout
                resp = await client.response()
            assert resp.status == 408
            assert await client.at_eof()
            await client.close()

    run(main)


@pytest.mark.parametrize("connection", [b"Host", b"keep-alive, host"])
def test_a_connection_option_naming_host_does_not_strip_the_host(connection: bytes) -> None:
    """Headers named in Connection are dropped as hop-by-hop; a client naming Host there
    had its Host removed, and the replica got an HTTP/1.1 request without one (invalid,
    and routed to whatever the app's default host is). Found by the header fuzz."""
    head = rewrite_request(
        b"GET",
        b"/",
        True,
        [(b"Host", b"shop.test"), (b"Connection", connection)],
        False,
        b"ip",
        b"http",
        lambda: b"id",
    )
    assert isinstance(head, RequestHead)
    assert head.data.startswith(b"GET / HTTP/1.1\r\nHost: shop.test\r\n")
