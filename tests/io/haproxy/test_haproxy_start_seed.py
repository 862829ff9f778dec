"""A HAProxy started again serves header routes, sticky users and the preview from its
first request (`haproxy.seed`), against a real HAProxy (Debian's 2.6): its file holds
the slot twins and its map files the entries, so nothing waits for the reconcile. The
reconcile is held back here (every command that changes HAProxy waits at a gate), so a
request that followed a route could only have been routed by what HAProxy started with.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from changeover.agent.engine import make
from changeover.agent.paths import StatePaths
from changeover.haproxy import maps
from changeover.haproxy.client import RuntimeClient
from changeover.haproxy.engine import HaproxyEngine
from changeover.haproxy.runtime import Command
from changeover.proxy.policy import HeaderRoute, Sticky, TrafficPolicy
from changeover.spec.models import ProxySettings
from tests.helpers import until
from tests.io.haproxy.test_haproxy_real import App, run, serving, settled
from tests.io.haproxy.test_haproxy_routes_real import revisions, two_revisions
from tests.parts import require

ROUTE = HeaderRoute("x-canary", 2, value="yes")
VERSION = HeaderRoute("x-version", 2, regex=r"v2\.[0-9]+ (rc|final)")  # a blank, spelt \x20
STICKY = Sticky("cookie", "user")
POLICY = TrafficPolicy({1: 80, 2: 20}, header_routes=(ROUTE, VERSION), sticky=STICKY)
USERS = [f"user-{n}" for n in range(40)]


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    require("haproxy", "haproxy")


class Gate:
    """Holds back every runtime API command but `show ...` until opened, and lists them:
    what HAProxy serves meanwhile is what it started with."""

    def __init__(self, client: RuntimeClient) -> None:
        self.held: list[str] = []
        self._opened = asyncio.Event()
        self._send = client.send
        client.send = self.send  # type: ignore[method-assign]

    async def send(self, command: Command) -> str:
        if not command.text.startswith("show "):
            self.held.append(command.text)
            await self._opened.wait()
        return await self._send(command)

    def open(self) -> None:
        self._opened.set()


async def sticky_revisions(url: str) -> dict[str, str]:
    """Each user's revision; a user asked three times must get one revision."""
    out = {}
    for user in USERS:
        async with httpx.AsyncClient(headers={"cookie": f"theme=dark; user={user}"}) as client:
            seen = {(await client.get(url)).headers.get("x-revision") for _ in range(3)}
        assert len(seen) == 1, (user, seen)
        out[user] = seen.pop() or "none"
    return out


async def first_requests(url: str, preview_url: str) -> tuple[object, ...]:
    return tuple(
        await asyncio.gather(
            revisions(url, 5, {"x-canary": "yes"}),
            revisions(url, 3, {"x-version": "v2.10 rc"}),
            sticky_revisions(url),
            revisions(preview_url, 3),
        )
    )


def test_a_haproxy_started_again_routes_from_its_first_request_without_the_reconcile(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        apps = [App(1), App(1), App(2)]
        events: list[str] = []
        async with serving(tmp_path, *apps) as (engine, url):
            engine.on_event = events.append
            await two_revisions(engine, apps)
            engine.set_traffic(POLICY)
            engine.set_preview(2)
            await engine.serve_preview(socket.create_server(("127.0.0.1", 0)))
            address = engine.preview_address
            assert address is not None
            preview_url = f"http://{address[0]}:{address[1]}"
            await settled(engine)  # the maps as the runtime API wrote them
            before = await sticky_revisions(url)
            assert set(before.values()) == {"1", "2"}  # both revisions have users
            slots, map_haves = engine.slots, engine.map_haves
            gate = Gate(engine._client)
            try:
                child = engine.master
                assert child is not None
                os.killpg(child.pid, signal.SIGKILL)
                # once the agent knows, requests wait in its listeners' backlogs for the
                # next HAProxy (a second later): they are the first it answers
                await until(lambda: any("exited unexpectedly" in e for e in events), 10)
                routed, versioned, after, previewed = await first_requests(url, preview_url)
                assert engine.master not in (None, child)
                assert routed == {"200 2": 5}
                assert versioned == {"200 2": 3}
                assert after == before  # every user on the revision it had
                assert previewed == {"200 2": 3}
                assert gate.held == []  # the reconcile had nothing to send
                assert engine.pending == 0
                assert (engine.slots, engine.map_haves) == (slots, map_haves)
                client = RuntimeClient(engine.stats_socket)
                for path, entries in map_haves.items():  # what HAProxy read from the files
                    assert maps.entries(await client.send(maps.show(path))) == list(entries)
            finally:
                gate.open()
            # the runtime path goes on from there: revision 2 loses its replica
            engine.set_routable("r2-2", False)
            await settled(engine)
            assert await revisions(url, 4, {"x-canary": "yes"}) == {"200 1": 4}
            assert any(text.startswith("prepare map") for text in gate.held)
            # a server HAProxy read from its file is deleted like one it was told to add
            engine.remove_endpoint("r2-2")
            await settled(engine)
            assert "r2-2" not in engine.haves
            assert all("r2-2" not in haves for haves in engine.slot_haves.values())
            deleted = {text for text in gate.held if text.startswith("del server ")}
            assert deleted == {"del server replicas/r2-2", f"del server slot{slots[2]}/r2-2"}

    run(go)


@asynccontextmanager
async def told_first(
    tmp_path: Path, policy: TrafficPolicy
) -> AsyncIterator[tuple[HaproxyEngine, Gate, str]]:
    """An engine told its replicas (revisions 1 and 2) and `policy` before `serve`, as a
    reload's or a crash recovery's agent tells it its adopted replicas; the gate is in
    place from HAProxy's start."""
    apps = [App(1), App(2)]
    paths = StatePaths(tmp_path / "state")
    paths.ensure()
    engine = make(ProxySettings(engine="haproxy"), paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
    assert isinstance(engine, HaproxyEngine)
    for index, app in enumerate(apps):
        name = f"r{app.revision}-{index}"
        engine.add_endpoint(name, app.revision, "127.0.0.1", await app.start())
        engine.set_routable(name, True)
    engine.set_traffic(policy)
    gate = Gate(engine._client)
    try:
        await engine.serve(socket.create_server(("127.0.0.1", 0)))
        host, port = engine.address
        yield engine, gate, f"http://{host}:{port}"
    finally:
        gate.open()
        await engine.shutdown(timeout=2.0)
        for app in apps:
            await app.close()


def test_a_new_engine_told_its_replicas_and_policy_before_serving_starts_with_them(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        policy = TrafficPolicy({1: 100, 2: 0}, header_routes=(ROUTE,))
        async with told_first(tmp_path, policy) as (engine, gate, url):
            assert await revisions(url, 4, {"x-canary": "yes"}) == {"200 2": 4}
            assert await revisions(url, 4) == {"200 1": 4}
            assert gate.held == []
            assert engine.pending == 0

    run(go)


def test_a_route_a_map_file_cannot_hold_starts_empty_and_comes_through_the_runtime_api(
    tmp_path: Path,
) -> None:
    """A verbose regex keeps its blanks, which a map file cannot hold: its map starts
    empty (its requests follow the weights) and the reconcile writes it."""

    async def go() -> None:
        verbose = HeaderRoute("x-build", 2, regex=r"(?x) b [0-9]+")
        policy = TrafficPolicy({1: 100, 2: 0}, header_routes=(ROUTE, verbose))
        async with told_first(tmp_path, policy) as (engine, gate, url):
            assert await revisions(url, 2, {"x-canary": "yes"}) == {"200 1": 2}
            await until(lambda: bool(gate.held), 10, "the reconcile writing the routes")
            assert gate.held[0] == f"prepare map {engine.settings.map_dir}/routes.map"
            gate.open()
            await settled(engine)
            assert await revisions(url, 2, {"x-canary": "yes"}) == {"200 2": 2}
            assert await revisions(url, 2, {"x-build": "b12"}) == {"200 2": 2}

    run(go)
