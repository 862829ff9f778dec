"""The haproxy engine's access log and error pages against a real HAProxy (Debian's 2.6):
one JSON line per request with the builtin's fields, query strings only when asked for,
odd and very long paths read back whole (or cut cleanly), and HAProxy's own 502/503/504
answered with changeover's bodies (`proxy.errors`' wording, as the builtin proxy's, which
the same test asks) and logged as such.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from changeover.agent.engine import Engine, make
from changeover.agent.logs import ACCESS_LOG
from changeover.agent.paths import StatePaths
from changeover.agent.serve import proxy_config
from changeover.haproxy import errorpages
from changeover.haproxy.engine import HaproxyEngine
from changeover.proxy.errors import (
    NO_REPLICA,
    closed_early,
    error_body,
    not_responding,
    upstream,
)
from changeover.proxy.server import Proxy
from changeover.spec.models import ProxySettings
from tests.helpers import bounded, until
from tests.parts import require

FIELDS = [
    "time", "revision", "replica", "method", "path", "status", "duration", "bytes",
    "request_id", "client", "error",
]  # fmt: skip


class App:
    """A replica stand-in: `/close` closes without answering, `/slow` never answers,
    `/chunked` answers with a chunked body, anything else `ok` with a Content-Length."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            while line := await reader.readline():
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass
                target = line.split(b" ")[1]
                if target.startswith(b"/close"):
                    break
                if target.startswith(b"/slow"):
                    await asyncio.Event().wait()
                if target.startswith(b"/chunked"):
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"3\r\nabc\r\n0\r\n\r\n"
                    )
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()


@asynccontextmanager
async def serving(
    tmp_path: Path, settings: ProxySettings, app: App | None = None
) -> AsyncIterator[tuple[HaproxyEngine, str, Path]]:
    """A haproxy engine on a fresh public socket; `app` closes after it, pass or fail."""
    async with engine_serving(tmp_path, settings, app) as (engine, url, path):
        assert isinstance(engine, HaproxyEngine)
        yield engine, url, path


@asynccontextmanager
async def engine_serving(
    tmp_path: Path, settings: ProxySettings, app: App | None = None
) -> AsyncIterator[tuple[Engine, str, Path]]:
    """The engine `settings` names, as the agent makes it, on a fresh public socket."""
    if settings.engine == "haproxy":
        require("haproxy", "haproxy")
    paths = StatePaths(tmp_path / "state")
    paths.ensure()
    engine = make(settings, paths, builtin=lambda: Proxy(proxy_config(settings, paths.logs)))
    public = socket.create_server(("127.0.0.1", 0))
    await engine.serve(public)
    host, port = engine.address
    try:
        yield engine, f"http://{host}:{port}", paths.logs / ACCESS_LOG
    finally:
        await engine.shutdown(timeout=2.0)
        if app is not None:
            await app.close()


def entries(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(text) for text in path.read_text().splitlines()]


async def logged(path: Path, count: int) -> list[dict[str, Any]]:
    await until(lambda: len(entries(path)) >= count, 10, f"{count} access log lines")
    found = entries(path)
    assert len(found) == count, found
    for entry in found:
        assert list(entry) == FIELDS
    return found


def run(test: Callable[[], Awaitable[Any]], guard: float = 60.0) -> Any:
    return bounded(test(), guard, on_uvloop=True)


async def closed_at_once(url: str) -> None:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    _, writer = await asyncio.open_connection(host, int(port))
    writer.close()
    await writer.wait_closed()


async def raw(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    answer = await reader.read(1 << 16)
    writer.close()
    return answer


@pytest.mark.parametrize("query", [False, True])
def test_one_line_per_request_with_the_builtins_fields(tmp_path: Path, query: bool) -> None:
    async def go() -> None:
        app = App()
        port = await app.start()
        settings = ProxySettings(engine="haproxy", access_log=True, access_log_query=query)
        async with serving(tmp_path, settings, app) as (engine, url, path):
            engine.add_endpoint("r1-1", 1, "127.0.0.1", port)
            engine.set_routable("r1-1", True)
            await until(lambda: engine.pending == 0, 10, "the runtime API caught up")
            async with httpx.AsyncClient() as client:
                first = await client.get(
                    url + "/items?token=secret", headers={"x-request-id": 'a b"c'}
                )
                second = await client.head(url + "/chunked")
                third = await client.get(url + "/chunked?x=1")
            odd = await raw(url, b"GET /p%20a%22th/%23x?q=%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n")
            assert [first.status_code, second.status_code, third.status_code] == [200] * 3
            assert odd.startswith(b"HTTP/1.1 200 OK")
            lines = await logged(path, 4)
            made = [line["request_id"] for line in lines[1:]]
            # the agent's random prefix, the worker's pid, its request number (hex)
            shapes = [
                re.fullmatch(r"([0-9a-f]{10})-([0-9A-F]{4,})-([0-9A-F]{4,})", i) for i in made
            ]
            assert all(shapes), made
            assert len({m.group(1, 2) for m in shapes if m}) == 1  # one agent, one worker
            numbers = [int(m.group(3), 16) for m in shapes if m]
            assert numbers == sorted(set(numbers))  # unique, in the order they came
            assert lines[0] | {"time": "", "duration": 0} == {
                "time": "",
                "revision": 1,
                "replica": "r1-1",
                "method": "GET",
                "path": "/items?token=secret" if query else "/items",
                "status": 200,
                "duration": 0,
                "bytes": 2,
                "request_id": 'a b"c',
                "client": "127.0.0.1",
                "error": None,
            }
            assert lines[0]["time"].endswith("Z")
            assert 0 <= lines[0]["duration"] < 5
            assert [(e["method"], e["path"], e["bytes"]) for e in lines[1:]] == [
                ("HEAD", "/chunked", 0),
                ("GET", "/chunked?x=1" if query else "/chunked", None),  # HAProxy can't tell
                ("GET", "/p%20a%22th/%23x?q=%C3%A9" if query else "/p%20a%22th/%23x", 2),
            ]
            assert engine.unparsed_log_lines == 0
            assert engine.metrics()["revisions"]["1"]["latency"]["count"] == 4  # same lines

    run(go)


def test_a_url_longer_than_a_log_line_is_cut_cleanly(tmp_path: Path) -> None:
    async def go() -> None:
        app = App()
        port = await app.start()
        # a head of 64 KB fits HAProxy's buffer (the default limit is 16 KB), and its URL
        # as hex does not fit a log line
        settings = ProxySettings(
            engine="haproxy", access_log=True, access_log_query=True, max_header_size=65536
        )
        async with serving(tmp_path, settings, app) as (engine, url, path):
            engine.add_endpoint("r1-1", 1, "127.0.0.1", port)
            engine.set_routable("r1-1", True)
            await until(lambda: engine.pending == 0, 10, "the runtime API caught up")
            long = "/é" + "a" * 40000
            async with httpx.AsyncClient() as client:
                answer = await client.get(url + long)
            assert answer.status_code == 200
            (line,) = await logged(path, 1)
            cut = line["path"]
            assert 30000 < len(cut) < len(answer.request.url.raw_path)
            assert answer.request.url.raw_path.decode().startswith(cut)
            assert (line["status"], line["replica"], line["request_id"] is not None) == (
                200,
                "r1-1",
                True,
            )

    run(go)


@pytest.mark.parametrize("engine_name", ["builtin", "haproxy"])
def test_own_errors_carry_changeovers_bodies_and_are_logged(
    tmp_path: Path, engine_name: str
) -> None:
    """Both engines answer 503 (no replica), 502 (a replica closed before answering) and
    504 (one too slow) in `proxy.errors`' words; HAProxy's static pages cannot name the
    replica, the access log does on both."""

    async def go() -> None:
        timeout = 0.5
        settings = ProxySettings(engine=engine_name, access_log=True, response_timeout="500ms")
        named = "r1-1" if engine_name == "builtin" else None
        app = App()
        port = await app.start()
        async with engine_serving(tmp_path, settings, app) as (engine, url, path):
            await closed_at_once(url)  # a connection closed before any request: no line
            async with httpx.AsyncClient() as client:
                none = await client.get(url + "/a?secret=1")
                engine.add_endpoint("r1-1", 1, "127.0.0.1", port)
                engine.set_routable("r1-1", True)
                if isinstance(engine, HaproxyEngine):
                    await until(lambda: engine.pending == 0, 10, "the runtime API caught up")
                closed = await client.get(url + "/close")
                slow = await client.get(url + "/slow")
            expected = {
                503: NO_REPLICA,
                502: closed_early(named),
                504: not_responding(named, timeout),
            }
            for answer, status in ((none, 503), (closed, 502), (slow, 504)):
                assert answer.status_code == status
                assert answer.headers["content-type"] == "text/plain; charset=utf-8"
                assert answer.content == error_body(status, expected[status])
                assert answer.headers["x-request-id"]  # as on every response
                if named is None:
                    assert answer.content == errorpages.body(status, timeout)
            assert slow.text == (
                f"504 Gateway Timeout: {upstream(named)} did not start responding within 0.5s\n"
            )
            lines = await logged(path, 3)
            assert [(e["status"], e["revision"], e["replica"], e["path"]) for e in lines] == [
                (503, None, None, "/a"),
                (502, 1, None, "/close"),
                (504, 1, None, "/slow"),
            ]
            assert [e["error"] for e in lines] == [
                NO_REPLICA,
                "upstream r1-1 closed the connection before completing the response",
                "upstream r1-1 did not start responding within 0.5s",
            ]
            assert [e["bytes"] for e in lines] == [len(a.content) for a in (none, closed, slow)]
            metrics = engine.metrics()
            assert (metrics["unrouted"], metrics["rejected"]) == (1, 0)  # no 400 for it
            assert metrics["revisions"]["1"]["proxy_errors"]["502"] == 1
            assert metrics["revisions"]["1"]["proxy_errors"]["504"] == 1

            def counted() -> tuple[int, int]:  # as analysis and the soak evidence read them
                revision = engine.metrics()["revisions"]["1"]
                return revision["requests"], revision["status"]["5xx"]

            # both engines count the proxy's own 502/504 among the revision's requests
            # and 5xx (HAProxy's stats count them in no server's hrsp_*)
            await until(lambda: counted() == (2, 2), 10, "the 502 and 504 counted")

    run(go)


def test_the_error_pages_are_changeovers_without_the_access_log(tmp_path: Path) -> None:
    async def go() -> None:
        async with serving(tmp_path, ProxySettings(engine="haproxy")) as (engine, url, path):
            async with httpx.AsyncClient() as client:
                answer = await client.get(url + "/")
            assert answer.status_code == 503
            assert answer.content == error_body(503, NO_REPLICA)
            await until(lambda: engine.metrics()["unrouted"] == 1, 10, "the 503 counted")
            assert not path.exists()  # the access log is off

    run(go)
