"""Idle client connections handed from one proxy to another (the agent's reload), over
real sockets: the client never sees a close, its next request is served by the new
proxy, and a busy connection finishes where it is with `Connection: close`."""

from __future__ import annotations

import asyncio
import os
import socket

from tests.io.proxy.proxy_kit import Backend, Client, eventually, run, serving


class Courier:
    """Delivers duplicates the way SCM_RIGHTS would: the receiver gets its own fds."""

    def __init__(self, works: bool = True) -> None:
        self.works = works
        self.received: list[socket.socket] = []

    def send(self, socks: list[socket.socket]) -> bool:
        if self.works:
            self.received += [socket.socket(fileno=os.dup(s.fileno())) for s in socks]
        return self.works


def test_an_idle_connection_moves_to_the_new_proxy_without_a_close() -> None:
    async def main() -> None:
        held = Backend(revision=1, name="old")
        async with serving(held) as old, serving(Backend(revision=2, name="new")) as new:
            idle = await Client.connect(old.address)
            first = await idle.request("GET", "/")
            assert (first.status, first.header("x-revision")) == (200, "1")
            busy = await Client.connect(old.address)
            await busy.send(b"GET /gate HTTP/1.1\r\nHost: x\r\n\r\n")  # held by the backend
            await eventually(lambda: old.inflight("old") == 1, "the busy request in flight")
            courier = Courier()
            shutdown = asyncio.ensure_future(old.shutdown(10, hand_over=courier.send))
            await eventually(lambda: len(courier.received) == 1, "one connection handed over")
            for sock in courier.received:
                await new.adopt(sock)
            second = await idle.request("GET", "/")  # the same TCP connection
            assert (second.status, second.header("x-revision")) == (200, "2")
            assert second.header("connection") is None  # still keep-alive, now with `new`
            third = await idle.request("GET", "/")
            assert third.header("x-revision") == "2"
            held.gate.set()
            answer = await busy.response()
            assert (answer.status, answer.header("connection")) == (200, "close")
            assert await busy.at_eof()
            await busy.close()
            await shutdown
            await idle.close()

    run(main)


def test_when_the_courier_fails_the_idle_connection_stays_and_is_closed_politely() -> None:
    async def main() -> None:
        async with serving(Backend(revision=1, name="old")) as old:
            client = await Client.connect(old.address)
            assert (await client.request("GET", "/")).status == 200
            shutdown = asyncio.ensure_future(
                old.shutdown(10, idle_grace=5, hand_over=Courier(works=False).send)
            )
            await eventually(lambda: old._ctx.closing, "the shutdown began")
            answer = await client.request("GET", "/")  # reading resumed: served here
            assert (answer.status, answer.header("connection")) == (200, "close")
            assert answer.header("x-revision") == "1"
            assert await client.at_eof()
            await client.close()
            await shutdown

    run(main)


def test_a_connection_with_a_request_under_way_is_never_handed_over() -> None:
    async def main() -> None:
        held = Backend(revision=1, name="old")
        async with serving(held) as old:
            client = await Client.connect(old.address)
            await client.send(b"GET /gate HTTP/1.1\r\nHost: x\r\n\r\n")
            await eventually(lambda: old.inflight("old") == 1, "the request in flight")
            courier = Courier()
            shutdown = asyncio.ensure_future(old.shutdown(10, hand_over=courier.send))
            await eventually(lambda: old._ctx.closing, "the shutdown began")
            assert courier.received == []
            held.gate.set()
            assert (await client.response()).header("connection") == "close"
            assert await client.at_eof()
            await client.close()
            await shutdown

    run(main)


def test_a_response_that_promised_keep_alive_before_the_shutdown_is_handed_over_after() -> None:
    """Its head went out before the shutdown began (no `Connection: close`), so the
    client may reuse the connection the moment the body ends: closing it then would race
    that request. It goes to the new proxy instead, once its response is complete."""

    async def half(
        b: Backend, msg: object, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Revision: 1\r\n\r\nhal")
        await writer.drain()
        await b.gate.wait()
        writer.write(b"f!!")
        return True

    async def main() -> None:
        held = Backend(revision=1, name="old", handler=half)
        async with serving(held) as old, serving(Backend(revision=2, name="new")) as new:
            client = await Client.connect(old.address)
            await client.send(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await client.response(head=True)
            assert head.header("connection") is None  # keep-alive, promised before shutdown
            assert await client.reader.readexactly(3) == b"hal"
            courier = Courier()
            shutdown = asyncio.ensure_future(old.shutdown(10, hand_over=courier.send))
            await eventually(lambda: old._ctx.closing, "the shutdown began")
            assert courier.received == []  # busy: not handed over yet
            held.gate.set()
            assert await client.reader.readexactly(3) == b"f!!"
            await eventually(lambda: len(courier.received) == 1, "handed over once complete")
            for sock in courier.received:
                await new.adopt(sock)
            again = await client.request("GET", "/")  # the same connection, no race
            assert (again.status, again.header("x-revision")) == (200, "2")
            await shutdown
            await client.close()

    run(main)
