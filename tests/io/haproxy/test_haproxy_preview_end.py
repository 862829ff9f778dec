"""The preview's end on a real HAProxy (Debian's 2.6), as on the builtin proxy: when the
preview revision is cleared or the preview listener closes, an idle keep-alive preview
connection is closed at once, a request in flight on one gets its whole answer and then
the connection closes, and the public listener's connections are untouched
(`haproxy/preview.py`, "When the preview ends")."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from changeover.haproxy.engine import HaproxyEngine
from tests.helpers import until
from tests.io.haproxy.test_haproxy_real import App, run, serving, settled
from tests.parts import require

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    require("haproxy", "haproxy")


async def connect(address: tuple[str, int]) -> Conn:
    return await asyncio.open_connection(*address)


async def send(conn: Conn, path: str = "/") -> None:
    conn[1].write(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    await conn[1].drain()


async def answer(conn: Conn) -> tuple[int, dict[str, str], bytes]:
    """One whole HTTP/1.1 answer (Content-Length framed, as the apps and HAProxy send)."""
    head = await asyncio.wait_for(conn[0].readuntil(b"\r\n\r\n"), 10)
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(conn[0].readexactly(int(headers["content-length"])), 10)
    return int(lines[0].split()[1]), headers, body


async def ask(conn: Conn, path: str = "/") -> tuple[int, dict[str, str], bytes]:
    await send(conn, path)
    return await answer(conn)


async def closed(conn: Conn) -> bool:
    """The server closed the connection within the deadline (EOF, or reset)."""
    try:
        return await asyncio.wait_for(conn[0].read(1), 10) == b""
    except ConnectionResetError:
        return True


def address(engine: HaproxyEngine) -> tuple[str, int]:
    where = engine.preview_address
    assert where is not None
    return where


@pytest.mark.parametrize("ended_by", ["preview cleared", "listener closed"])
def test_idle_preview_connections_close_at_once_and_busy_ones_after_their_answer(
    tmp_path: Path, ended_by: str
) -> None:
    async def go() -> None:
        stable, green = App(1), App(2)
        ports = await stable.start(), await green.start()
        async with serving(tmp_path, stable, green) as (engine, _url):
            for revision, port in zip((1, 2), ports, strict=True):
                engine.add_endpoint(f"r{revision}-1", revision, "127.0.0.1", port)
                engine.set_routable(f"r{revision}-1", True)
            engine.set_weights({1: 100, 2: 0})  # blue-green: the public sees blue only
            engine.set_preview(2)
            await engine.serve_preview(socket.create_server(("127.0.0.1", 0)))
            await settled(engine)
            host, port = engine.address
            public = await connect((host, port))
            assert (await ask(public))[2] == b"rev 1"
            idle = await connect(address(engine))
            status, headers, body = await ask(idle)
            assert (status, body) == (200, b"rev 2")
            assert headers.get("connection") != "close"  # keep-alive while the preview is on
            busy = await connect(address(engine))
            await send(busy, "/slow")
            await green.started.wait()  # in flight at green's

            if ended_by == "preview cleared":
                engine.set_preview(None)
            else:
                await engine.close_preview()
            assert await closed(idle), "the idle preview connection was not closed"
            green.release.set()
            status, headers, body = await answer(busy)  # the whole answer, then the end
            assert (status, body) == (200, b"rev 2")
            if ended_by == "preview cleared":  # no preview revision: HAProxy says so
                assert headers.get("connection") == "close"
            assert await closed(busy), "the busy preview connection stayed open"
            assert (await ask(public))[2] == b"rev 1"  # the same public connection
            for conn in (public, idle, busy):
                conn[1].close()
            # nothing left to look at (the busy one: once HAProxy closed it)
            await until(lambda: not engine._previews.retiring, 10, "the preview's end done")

    run(go)


def test_a_new_preview_connection_after_the_preview_ended_is_not_routed(tmp_path: Path) -> None:
    async def go() -> None:
        green = App(2)
        port = await green.start()
        async with serving(tmp_path, green) as (engine, _url):
            engine.add_endpoint("r2-1", 2, "127.0.0.1", port)
            engine.set_routable("r2-1", True)
            engine.set_preview(2)
            await engine.serve_preview(socket.create_server(("127.0.0.1", 0)))
            await settled(engine)
            engine.set_preview(None)
            await settled(engine)
            conn = await connect(address(engine))
            status, headers, _body = await ask(conn)
            assert status == 503  # the unrouted backend: no revision
            # changeover's error pages are HTTP/1.0 answers, closed unless keep-alive
            assert headers.get("connection") in (None, "close"), headers
            assert await closed(conn)
            conn[1].close()

    run(go)
