"""Header routes, sticky users and the preview listener on a real HAProxy (Debian's
2.6): the maps `haproxy.routes` writes are read by HAProxy's PCRE2 and `map_int` the
way the module says, every change lands without a reload, and the preview listener
the agent accepts on is served by HAProxy."""

from __future__ import annotations

import os
import signal
import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest

from changeover.haproxy import maps
from changeover.haproxy.client import RuntimeClient
from changeover.haproxy.engine import HaproxyEngine
from changeover.proxy.chooser import layout, owner, sticky_bucket
from changeover.proxy.policy import HeaderRoute, Sticky, TrafficPolicy
from tests.helpers import until
from tests.io.haproxy.test_haproxy_real import App, run, serving, settled
from tests.parts import require


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    require("haproxy", "haproxy")


async def revisions(url: str, n: int, headers: dict[str, str] | None = None) -> Counter[str]:
    async with httpx.AsyncClient(headers=headers) as client:
        seen: Counter[str] = Counter()
        for _ in range(n):
            response = await client.get(url)
            seen[f"{response.status_code} {response.headers.get('x-revision')}"] += 1
        return seen


async def two_revisions(engine: HaproxyEngine, apps: list[App]) -> None:
    for index, app in enumerate(apps):
        name = f"r{app.revision}-{index}"
        port = await app.start()
        engine.add_endpoint(name, app.revision, "127.0.0.1", port)
        engine.set_routable(name, True)


def test_a_header_route_sends_matching_requests_to_its_revision(tmp_path: Path) -> None:
    async def go() -> None:
        apps = [App(1), App(1), App(2)]
        async with serving(tmp_path, *apps) as (engine, url):
            await two_revisions(engine, apps)
            pid = engine.master.pid if engine.master else 0
            routes = (
                HeaderRoute("X-Canary", 2, value="always"),
                HeaderRoute("X-Group", 2, prefix="beta;"),  # a `;` reaches the map as is
                HeaderRoute("X-Version", 2, regex=r"v2\.[0-9]+ (rc|final)"),  # and a space
                HeaderRoute("X-Build", 2, regex=r"(?x) b [0-9]+ "),  # blanks ignored: (?x)
            )
            engine.set_traffic(TrafficPolicy({1: 100, 2: 0}, header_routes=routes))
            await settled(engine)
            assert await revisions(url, 10) == {"200 1": 10}
            assert await revisions(url, 10, {"x-canary": "always"}) == {"200 2": 10}
            assert await revisions(url, 4, {"X-CANARY": "always"}) == {"200 2": 4}
            assert await revisions(url, 4, {"x-canary": "always!"}) == {"200 1": 4}
            assert await revisions(url, 4, {"x-canary": "Always"}) == {"200 1": 4}
            assert await revisions(url, 4, {"x-other": "always"}) == {"200 1": 4}
            assert await revisions(url, 4, {"x-group": "beta;users"}) == {"200 2": 4}
            assert await revisions(url, 4, {"x-group": "beta"}) == {"200 1": 4}
            assert await revisions(url, 4, {"x-version": "v2.10 rc"}) == {"200 2": 4}
            assert await revisions(url, 4, {"x-version": "v2.10 rc2"}) == {"200 1": 4}
            assert await revisions(url, 4, {"x-build": "b12"}) == {"200 2": 4}
            assert await revisions(url, 4, {"x-build": "b 12"}) == {"200 1": 4}
            # the header on another line of the block does not match across lines
            two = {"x-version": "v2.1", "x-next": "rc"}
            assert await revisions(url, 4, two) == {"200 1": 4}
            # the routed revision loses its last routable replica: weights take over
            engine.set_routable("r2-2", False)
            await settled(engine)
            assert await revisions(url, 6, {"x-canary": "always"}) == {"200 1": 6}
            engine.set_routable("r2-2", True)
            await settled(engine)
            assert await revisions(url, 6, {"x-canary": "always"}) == {"200 2": 6}
            client = RuntimeClient(engine.stats_socket)
            files = {path for path, entries in engine.map_haves.items() if entries}
            routes_map = next(p for p in files if p.endswith("routes.map"))
            listed = await client.send(maps.show(routes_map))
            assert "v2\\.[0-9]+\\x20(rc|final)" in listed  # its space spelt \x20
            assert "(?x) b [0-9]+ " in listed  # a verbose regex as written (runtime API)
            engine.set_traffic(TrafficPolicy({1: 100, 2: 0}))
            await settled(engine)
            assert await revisions(url, 6, {"x-canary": "always"}) == {"200 1": 6}
            assert (engine.master.pid if engine.master else 0) == pid  # never reloaded
            # requests count once per revision though a replica is a server twice
            counted = {"1": 50, "2": 32}  # revision 2: 10 + 4 + 4 + 4 + 4 + 6 routed requests
            await until(lambda: _requests(engine) == counted, 5, "82 requests, each once")

    run(go)


def _requests(engine: HaproxyEngine) -> dict[str, int]:
    return {key: rev["requests"] for key, rev in engine.metrics()["revisions"].items()}


def test_a_sticky_user_keeps_a_revision_and_moves_only_forward(tmp_path: Path) -> None:
    async def go() -> None:
        apps = [App(1), App(2)]
        async with serving(tmp_path, *apps) as (engine, url):
            await two_revisions(engine, apps)
            users = [f"user-{n}" for n in range(60)]

            async def where(weights: dict[int, int], sticky: Sticky) -> dict[str, str]:
                engine.set_traffic(TrafficPolicy(weights, sticky=sticky))
                await settled(engine)
                out = {}
                async with httpx.AsyncClient() as client:
                    for user in users:
                        header = (
                            {"cookie": f"theme=dark; user={user}; x=1"}
                            if sticky.kind == "cookie"
                            else {"x-user": user}
                        )
                        seen = set()
                        for _ in range(3):  # the same user, the same revision
                            response = await client.get(url, headers=header)
                            seen.add(response.headers["x-revision"])
                        assert len(seen) == 1, (user, seen)
                        out[user] = seen.pop()
                return out

            for sticky in (Sticky("cookie", "user"), Sticky("header", "X-User")):
                at10 = await where({1: 90, 2: 10}, sticky)
                at50 = await where({1: 50, 2: 50}, sticky)
                at90 = await where({1: 10, 2: 90}, sticky)
                on2 = [{u for u, r in at.items() if r == "2"} for at in (at10, at50, at90)]
                assert on2[0] <= on2[1] <= on2[2], "a user on the canary stays on it"
                assert len(on2[0]) < len(on2[1]) < len(on2[2])
                assert 15 <= len(on2[1]) <= 45  # about half of 60 (crc32 spreads them)
                # each user on the revision the builtin proxy gives them: one hash
                for weights, at in (({1: 90, 2: 10}, at10), ({1: 10, 2: 90}, at90)):
                    builtin = {
                        u: str(owner(layout(weights), sticky_bucket(u.encode()))) for u in users
                    }
                    assert at == builtin
            # users without the key share by weight
            engine.set_traffic(TrafficPolicy({1: 50, 2: 50}, sticky=Sticky("cookie", "user")))
            await settled(engine)
            seen = await revisions(url, 20)
            assert seen == {"200 1": 10, "200 2": 10}

    run(go)


def test_the_preview_listener_serves_the_preview_revision_only(tmp_path: Path) -> None:
    async def go() -> None:
        apps = [App(1), App(2)]
        async with serving(tmp_path, *apps) as (engine, url):
            await two_revisions(engine, apps)
            engine.set_traffic(TrafficPolicy({1: 100}))
            preview = socket.create_server(("127.0.0.1", 0))
            await engine.serve_preview(preview)
            address = engine.preview_address
            assert address is not None
            preview_url = f"http://{address[0]}:{address[1]}"
            await settled(engine)
            assert await revisions(preview_url, 4) == {"503 None": 4}  # no preview revision
            engine.set_preview(2)
            await settled(engine)
            assert await revisions(preview_url, 20) == {"200 2": 20}  # keep-alive too
            assert await revisions(url, 10) == {"200 1": 10}
            engine.set_preview(None)
            await settled(engine)
            assert await revisions(preview_url, 3) == {"503 None": 3}
            engine.set_preview(2)
            await settled(engine)
            assert await revisions(preview_url, 3) == {"200 2": 3}
            await engine.close_preview()
            assert engine.preview_address is None
            with pytest.raises(httpx.ConnectError):
                await revisions(preview_url, 1)
            again = socket.create_server(("127.0.0.1", 0))  # another address, no restart
            await engine.serve_preview(again)
            address = engine.preview_address
            assert address is not None
            assert await revisions(f"http://{address[0]}:{address[1]}", 3) == {"200 2": 3}

    run(go)


def test_more_revisions_than_slots_fall_back_to_weights_and_say_so(tmp_path: Path) -> None:
    async def go() -> None:
        apps = [App(rev) for rev in range(1, 7)]
        events: list[str] = []
        async with serving(tmp_path, *apps) as (engine, url):
            engine.on_event = events.append
            ports = [await app.start() for app in apps]
            # all at once (no await between): the reconcile sees six revisions together
            for index, (app, port) in enumerate(zip(apps, ports, strict=True)):
                name = f"r{app.revision}-{index}"
                engine.add_endpoint(name, app.revision, "127.0.0.1", port)
                engine.set_routable(name, True)
            weights = dict.fromkeys(range(1, 7), 0) | {1: 100}
            route = HeaderRoute("x-to", 1, value="one")
            engine.set_traffic(TrafficPolicy(weights, header_routes=(route,)))
            engine.set_preview(6)
            await settled(engine)
            assert sorted(engine.slots) == [1, 4, 5, 6]  # named first, then the newest
            engine.set_traffic(
                TrafficPolicy(weights, header_routes=(HeaderRoute("x-to", 2, value="two"),))
            )
            await settled(engine)
            assert 2 not in engine.slots
            assert any("no free slot for revision(s) 2" in e for e in events), events
            assert await revisions(url, 4, {"x-to": "two"}) == {"200 1": 4}  # weights
            engine.remove_endpoint("r4-3")
            await settled(engine)
            assert 2 in engine.slots  # the slot freed once its server was deleted
            assert await revisions(url, 4, {"x-to": "two"}) == {"200 2": 4}

    run(go)


def test_a_haproxy_started_again_gets_its_routes_and_preview_back(tmp_path: Path) -> None:
    """The maps start empty and the socketpair is new at each start; the reconcile
    fills the maps again, and the agent passes preview connections over the new pair."""

    async def go() -> None:
        apps = [App(1), App(2)]
        async with serving(tmp_path, *apps) as (engine, url):
            await two_revisions(engine, apps)
            route = HeaderRoute("x-canary", 2, value="yes")
            engine.set_traffic(TrafficPolicy({1: 100, 2: 0}, header_routes=(route,)))
            engine.set_preview(2)
            await engine.serve_preview(socket.create_server(("127.0.0.1", 0)))
            address = engine.preview_address
            assert address is not None
            preview_url = f"http://{address[0]}:{address[1]}"
            await settled(engine)
            assert await revisions(url, 3, {"x-canary": "yes"}) == {"200 2": 3}
            child = engine.master
            assert child is not None
            os.killpg(child.pid, signal.SIGKILL)
            await until(lambda: engine.master not in (None, child), 10, "a new haproxy")
            await settled(engine)
            assert await revisions(url, 3, {"x-canary": "yes"}) == {"200 2": 3}
            assert await revisions(url, 3) == {"200 1": 3}
            assert await revisions(preview_url, 3) == {"200 2": 3}

    run(go)
