"""The haproxy engine against a real HAProxy (Debian's 2.6): the runtime API answers the
way `haproxy.runtime` judges them, weights split traffic by revision, a drain waits for
exactly the request in flight, counters survive deleted servers and a HAProxy that dies
(it is started again with its servers), and a missing or broken HAProxy is said plainly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from changeover.agent.engine import make
from changeover.agent.paths import StatePaths
from changeover.haproxy import runtime
from changeover.haproxy.client import RuntimeClient
from changeover.haproxy.config import BACKEND
from changeover.haproxy.engine import HaproxyEngine
from changeover.haproxy.process import StartFailed
from changeover.spec.models import ProxySettings
from tests.helpers import bounded, until
from tests.parts import require


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    require("haproxy", "haproxy")


class App:
    """A replica stand-in: answers `X-Revision`, `/slow` after `release` is set."""

    def __init__(self, revision: int) -> None:
        self.revision = revision
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass
                if b"/slow" in line:
                    self.started.set()
                    await self.release.wait()
                body = b"rev %d" % self.revision
                writer.write(
                    b"HTTP/1.1 200 OK\r\nX-Revision: %d\r\nContent-Length: %d\r\n\r\n%s"
                    % (self.revision, len(body), body)
                )
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.close()


@asynccontextmanager
async def serving(tmp_path: Path, *apps: App) -> AsyncIterator[tuple[HaproxyEngine, str]]:
    """A haproxy engine serving on a fresh public socket; the apps close after it."""
    paths = StatePaths(tmp_path / "state")
    paths.ensure()
    engine = make(ProxySettings(engine="haproxy"), paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
    assert isinstance(engine, HaproxyEngine)
    public = socket.create_server(("127.0.0.1", 0))
    await engine.serve(public)
    host, port = engine.address
    try:
        yield engine, f"http://{host}:{port}"
    finally:
        await engine.shutdown(timeout=2.0)
        for app in apps:
            await app.close()


async def get_many(url: str, n: int, path: str = "/") -> Counter[str]:
    async with httpx.AsyncClient() as client:
        seen: Counter[str] = Counter()
        for _ in range(n):
            response = await client.get(url + path)
            seen[f"{response.status_code} {response.headers.get('x-revision')}"] += 1
        return seen


async def settled(engine: HaproxyEngine) -> None:
    await until(lambda: engine.pending == 0, 10, "the runtime API caught up")


def run(test: Callable[[], Awaitable[Any]], guard: float = 60.0) -> Any:
    return bounded(test(), guard, on_uvloop=True)


def test_the_runtime_api_answers_as_the_module_judges(tmp_path: Path) -> None:
    async def go() -> None:
        app = App(1)
        port = await app.start()
        async with serving(tmp_path, app) as (engine, url):
            client = RuntimeClient(engine.stats_socket)
            add = runtime.add_server(BACKEND, "x-1", "127.0.0.1", port, 7)
            assert (await client.send(add)).strip() == "New server registered."
            with pytest.raises(runtime.RuntimeApiError, match="Already exists a server"):
                await client.send(add)
            await client.send(runtime.set_state(BACKEND, "x-1", "ready"))
            await client.send(runtime.set_weight(BACKEND, "x-1", 3))
            assert await get_many(url, 3) == {"200 1": 3}
            (row,) = [r for r in await client.stats(BACKEND) if r.name == "x-1"]
            assert (row.kind, row.number("weight"), row.number("hrsp_2xx")) == ("server", 3, 3)
            with pytest.raises(runtime.RuntimeApiError, match="No such server"):
                await client.send(runtime.set_state(BACKEND, "nope", "drain"))
            # a request in flight: the server drains, scur says 1, and it cannot be deleted
            slow = asyncio.ensure_future(get_many(url, 1, "/slow"))
            await app.started.wait()
            await client.send(runtime.set_state(BACKEND, "x-1", "maint"))
            (row,) = [r for r in await client.stats(BACKEND) if r.name == "x-1"]
            assert (row.text("status"), row.number("scur")) == ("MAINT", 1)
            with pytest.raises(runtime.RuntimeApiError) as refused:
                await client.send(runtime.del_server(BACKEND, "x-1"))
            said = "Server still has connections attached to it, cannot remove it.\n"
            assert refused.value.answer == said
            app.release.set()
            assert await slow == {"200 1": 1}  # maintenance let the request finish
            await client.send(runtime.set_addr(BACKEND, "x-1", "127.0.0.1", port + 1))
            assert (await client.send(runtime.del_server(BACKEND, "x-1"))).strip() == (
                "Server deleted."
            )
            info = await client.info()
            assert info["Version"].startswith("2.")

    run(go)


def test_weights_split_traffic_by_revision_not_by_replica(tmp_path: Path) -> None:
    async def go() -> None:
        apps = [App(1), App(1), App(1), App(2)]
        ports = [await app.start() for app in apps]
        async with serving(tmp_path, *apps) as (engine, url):
            for index, (app, port) in enumerate(zip(apps, ports, strict=True)):
                name = f"r{app.revision}-{index}"
                engine.add_endpoint(name, app.revision, "127.0.0.1", port)
                engine.set_routable(name, True)
            engine.set_weights({1: 90, 2: 10})
            await settled(engine)
            seen = await get_many(url, 400)
            assert seen["200 1"] + seen["200 2"] == 400
            assert 30 <= seen["200 2"] <= 50, seen  # 10 % of 400, HAProxy's smooth round-robin
            engine.set_weights({1: 0, 2: 100})
            await settled(engine)
            assert await get_many(url, 20) == {"200 2": 20}
            engine.set_traffic(engine.traffic.__class__())  # no weights: every replica alike
            await settled(engine)
            assert (await get_many(url, 40))["200 2"] == 10

    run(go)


def test_a_drain_waits_for_exactly_the_request_in_flight(tmp_path: Path) -> None:
    async def go() -> None:
        old, new = App(1), App(2)
        old_port, new_port = await old.start(), await new.start()
        async with serving(tmp_path, old, new) as (engine, url):
            engine.add_endpoint("r1-1", 1, "127.0.0.1", old_port)
            engine.set_routable("r1-1", True)
            await settled(engine)
            slow = asyncio.ensure_future(get_many(url, 1, "/slow"))
            await old.started.wait()
            engine.add_endpoint("r2-1", 2, "127.0.0.1", new_port)
            engine.set_routable("r2-1", True)
            engine.set_routable("r1-1", False)
            assert await engine.drain("r1-1", 0.5) is False  # the slow request is in flight
            assert engine.metrics()["revisions"]["1"]["inflight"] == 1
            assert await get_many(url, 5) == {"200 2": 5}  # drained: nothing new for r1-1
            waiting = asyncio.ensure_future(engine.drain("r1-1", 10))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            old.release.set()
            assert await waiting is True
            assert await slow == {"200 1": 1}
            await until(lambda: engine.metrics()["revisions"]["1"]["requests"] == 1, 5)
            engine.remove_endpoint("r1-1")
            await settled(engine)
            assert "r1-1" not in engine.haves
            assert engine.metrics()["revisions"]["1"]["requests"] == 1  # kept once deleted

    run(go)


@pytest.mark.parametrize("killed", ["master and worker", "worker"])
def test_a_haproxy_that_dies_is_started_again_with_its_servers(tmp_path: Path, killed: str) -> None:
    """The worker dying takes the master with it (2.6's exit-on-failure); either way the
    agent starts HAProxy again with its servers, and no counter goes down."""

    async def go() -> None:
        app = App(1)
        port = await app.start()
        events: list[str] = []
        async with serving(tmp_path, app) as (engine, url):
            engine.on_event = events.append
            engine.add_endpoint("r1-1", 1, "127.0.0.1", port)
            engine.set_routable("r1-1", True)
            await settled(engine)
            assert await get_many(url, 10) == {"200 1": 10}
            # read from the stats before the kill (the log, sampled, counts fewer), so the
            # counters kept at the death are the 10 (deadlines only bound a hang)
            await until(
                lambda: engine.metrics()["revisions"].get("1", {}).get("requests", 0) >= 10, 20
            )
            child = engine.master
            assert child is not None
            if killed == "worker":
                (worker,) = psutil.Process(child.pid).children()
                worker.kill()
            else:
                os.killpg(child.pid, signal.SIGKILL)
            await until(lambda: engine.master not in (None, child), 30, "a new haproxy")
            await settled(engine)
            assert await get_many(url, 5) == {"200 1": 5}
            await until(lambda: engine.metrics()["revisions"]["1"]["requests"] >= 15, 20)
            assert any("haproxy exited unexpectedly" in e for e in events), events

    run(go)


def test_a_configuration_haproxy_refuses_is_a_start_failure_with_its_words(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        paths = StatePaths(tmp_path / "state")
        paths.ensure()
        engine = make(ProxySettings(engine="haproxy"), paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
        assert isinstance(engine, HaproxyEngine)
        not_a_listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # HAProxy refuses it
        try:
            with pytest.raises(
                StartFailed,
                match=r"haproxy exited at start.*file descriptor .3. is of the wrong type",
            ):
                await engine.serve(not_a_listener)
        finally:
            not_a_listener.close()
            if engine.running:
                await engine.shutdown(1.0)
        assert not paths.haproxy_pid.exists()

    run(go)
