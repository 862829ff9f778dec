"""`proxy.log_sample` against Debian's HAProxy 2.6: one replica response in N is logged,
drawn at random, so round robin's rotation cannot hide a replica from the latencies (a
fixed 1-in-2 over two alternating servers would log only one of them); HAProxy's own
answers (503 without a replica) are all logged; counts come from the stats for every
request. With "auto" (the default) the agent writes the level into HAProxy's sample map
(`haproxy/sampling.py`): every response at level 0, one in 2^level after it raised it,
and a HAProxy started again reads the level from the map's file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import pytest

from changeover.agent.engine import make
from changeover.agent.paths import StatePaths
from changeover.haproxy import maps, sampling
from changeover.haproxy.client import RuntimeClient
from changeover.haproxy.engine import HaproxyEngine
from changeover.runtime.fakes import FakeClock
from changeover.spec.models import ProxySettings
from tests.helpers import until
from tests.io.haproxy.test_haproxy_real import App, get_many, run, settled
from tests.parts import require


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    require("haproxy", "haproxy")


async def every_503_logged(engine: HaproxyEngine, url: str) -> None:
    """30 requests with no replica: HAProxy answers each 503 itself, which runs no
    http-response rule, so every one is logged whatever the sampling."""
    assert await get_many(url, 30) == {"503 None": 30}

    def unrouted() -> int:
        engine.log_reader.read()
        return int(engine.metrics()["unrouted"])

    await until(lambda: unrouted() == 30, 10, "every 503 HAProxy answered is logged")


def test_one_response_in_n_at_random_and_every_haproxy_answer(tmp_path: Path) -> None:
    async def go() -> None:
        one, two = App(1), App(2)
        ports = await one.start(), await two.start()
        paths = StatePaths(tmp_path / "state")
        paths.ensure()
        settings = ProxySettings(engine="haproxy", log_sample=2)
        engine = make(settings, paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
        assert isinstance(engine, HaproxyEngine)
        public = socket.create_server(("127.0.0.1", 0))
        host, port = public.getsockname()[:2]
        url = f"http://{host}:{port}"
        try:
            for revision, app_port in zip((1, 2), ports, strict=True):
                engine.add_endpoint(f"r{revision}-1", revision, "127.0.0.1", app_port)
                engine.set_routable(f"r{revision}-1", True)
            await engine.serve(public)
            await settled(engine)
            served = await get_many(url, 400)
            assert served == {"200 1": 200, "200 2": 200}  # round robin: they alternate

            def counted() -> list[int]:
                revisions = engine.metrics()["revisions"]
                return [revisions.get(str(r), {}).get("requests", 0) for r in (1, 2)]

            await until(lambda: counted() == [200, 200], 10, "the stats count every request")

            def logged() -> list[int]:
                engine.log_reader.read()  # what HAProxy has sent so far
                return [engine.stats.revision(r).snapshot()["latency"]["count"] for r in (1, 2)]

            # 1 in 2 at random: about 100 each (binomial, sd 7); a fixed 1:2 would log
            # 200 of one and 0 of the other
            await until(lambda: min(logged()) >= 60, 10, "both revisions' latencies")
            assert max(logged()) <= 140, logged()

            for revision in (1, 2):
                engine.remove_endpoint(f"r{revision}-1")
            await settled(engine)
            await every_503_logged(engine, url)
        finally:
            await engine.shutdown(timeout=2.0)
            await one.close()
            await two.close()

    run(go)


def test_lines_wait_in_haproxys_ring_while_the_agent_reads_nothing(tmp_path: Path) -> None:
    """A datagram per line was lost past 10 waiting (`net.unix.max_dgram_qlen`): an
    agent busy for a few milliseconds lost latencies and access-log lines. The ring
    holds them until the agent reads."""
    require("haproxy", "haproxy")

    async def go() -> None:
        app = App(1)
        app_port = await app.start()
        paths = StatePaths(tmp_path / "state")
        paths.ensure()
        engine = make(ProxySettings(engine="haproxy", log_sample=1), paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
        assert isinstance(engine, HaproxyEngine)
        public = socket.create_server(("127.0.0.1", 0))
        host, port = public.getsockname()[:2]
        try:
            engine.add_endpoint("r1-1", 1, "127.0.0.1", app_port)
            engine.set_routable("r1-1", True)
            await engine.serve(public)
            await settled(engine)
            await until(lambda: engine.log_reader.connected, 10, "HAProxy's ring connected")
            engine.log_reader.unschedule()  # the agent reads nothing for a while (nor waits)
            served = await get_many(f"http://{host}:{port}", 300)
            assert served == {"200 1": 300}
            stats = engine.stats.revision(1)
            assert stats.snapshot()["latency"]["count"] == 0  # not read yet

            def logged() -> int:
                engine.log_reader.read()
                return int(stats.snapshot()["latency"]["count"])

            await until(lambda: logged() == 300, 10, "every line, read late")
            assert engine.unparsed_log_lines == 0
        finally:
            await engine.shutdown(timeout=2.0)
            await app.close()

    run(go)


async def malformed(host: str, port: int) -> bytes:
    """A request HAProxy answers 400 itself: its line is always logged, after the lines of
    every response finished before it (a marker in the log's order)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        await writer.drain()
        return await reader.readline()
    finally:
        writer.close()


def test_auto_logs_every_response_then_one_in_2_to_the_level_the_agent_writes(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        app = App(1)
        app_port = await app.start()
        paths = StatePaths(tmp_path / "state")
        paths.ensure()
        engine = make(ProxySettings(engine="haproxy"), paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
        assert isinstance(engine, HaproxyEngine)
        assert engine.settings.log_sample == "auto"  # the default
        # Time stands still for the level: the agent's own reads of the stats decide
        # nothing, the test drives the decision (how fast this machine serves does not)
        clock = FakeClock()
        engine.log_metrics.clock = clock
        public = socket.create_server(("127.0.0.1", 0))
        host, port = public.getsockname()[:2]
        url = f"http://{host}:{port}"
        assert engine.settings.map_dir is not None
        sample_map = sampling.map_file(engine.settings.map_dir)
        client = RuntimeClient(engine.stats_socket)

        async def held() -> list[tuple[str, str]]:
            return maps.entries(await client.send(maps.show(sample_map)))

        def logged() -> int:
            engine.log_reader.read()
            return int(engine.stats.revision(1).snapshot()["latency"]["count"])

        def counted() -> int:
            return int(engine.metrics()["revisions"].get("1", {}).get("requests", 0))

        async def marked(rejected: int) -> None:
            """Every line logged before a 400 HAProxy answered now has been read."""
            assert (await malformed(host, port)).startswith(b"HTTP/1.1 400")

            def seen() -> bool:
                engine.log_reader.read()
                return int(engine.metrics()["rejected"]) == rejected

            await until(seen, 10, "the 400's line")

        try:
            engine.add_endpoint("r1-1", 1, "127.0.0.1", app_port)
            engine.set_routable("r1-1", True)
            await engine.serve(public)
            await settled(engine)
            assert await held() == [("0:65535", "1")]  # a new agent: level 0
            assert engine.metrics()["log_sample"] == {"mode": "auto", "one_in": 1, "level": 0}

            assert await get_many(url, 2000) == {"200 1": 2000}
            await until(lambda: logged() == 2000, 20, "a line for every response")
            await marked(1)
            assert logged() == 2000  # exactly: no line twice
            assert engine.unparsed_log_lines == 0

            # 24,000 requests in a second: 1 in 64 brings it to 375 lines a second
            clock.advance(1.0)
            engine.observe_rate(0)
            clock.advance(1.0)
            engine.observe_rate(24_000)
            assert engine.metrics()["log_sample"] == {"mode": "auto", "one_in": 64, "level": 6}
            await settled(engine)  # the reconcile replaced the map through the runtime API
            assert await held() == [("0:1023", "1")]

            assert await get_many(url, 2000) == {"200 1": 2000}
            await until(lambda: counted() == 4000, 10, "the stats count every request")
            await marked(2)
            # 1 in 64 of 2,000 is 31 on average (sd 5.5): under 200 and over 0 cannot
            # flake, and is far from the 2,000 level 0 logs
            late = logged() - 2000
            assert 0 < late < 200, late

            # HAProxy dies: the one started again reads level 6 from the map's file
            child = engine.master
            assert child is not None
            events: list[str] = []
            engine.on_event = events.append
            os.killpg(child.pid, signal.SIGKILL)

            def started() -> bool:  # said once its runtime API answers
                return any(e.startswith("haproxy started") for e in events)

            await until(started, 30, "a new haproxy answering")
            assert engine.master not in (None, child)
            await settled(engine)
            assert await held() == [("0:1023", "1")]
            assert engine.metrics()["log_sample"]["level"] == 6

            # HAProxy's own answers run no http-response rule: every 503 is logged
            engine.remove_endpoint("r1-1")
            await settled(engine)
            await every_503_logged(engine, url)
        finally:
            await engine.shutdown(timeout=2.0)
            await app.close()

    run(go, guard=120.0)
