"""`proxy.log_sample` against Debian's HAProxy 2.6: one replica response in N is logged,
drawn at random, so round robin's rotation cannot hide a replica from the latencies (a
fixed 1-in-2 over two alternating servers would log only one of them); HAProxy's own
answers (503 without a replica) are all logged; counts come from the stats for every
request.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from changeover.agent.engine import make
from changeover.agent.paths import StatePaths
from changeover.haproxy.engine import HaproxyEngine
from changeover.spec.models import ProxySettings
from tests.helpers import until
from tests.io.haproxy.test_haproxy_real import App, get_many, run, settled
from tests.parts import require


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    require("haproxy", "haproxy")


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
                engine._read_log()  # what HAProxy has sent so far
                return [engine.stats.revision(r).snapshot()["latency"]["count"] for r in (1, 2)]

            # 1 in 2 at random: about 100 each (binomial, sd 7); a fixed 1:2 would log
            # 200 of one and 0 of the other
            await until(lambda: min(logged()) >= 60, 10, "both revisions' latencies")
            assert max(logged()) <= 140, logged()

            for revision in (1, 2):
                engine.remove_endpoint(f"r{revision}-1")
            await settled(engine)
            answered = await get_many(url, 30)
            assert answered == {"503 None": 30}

            def unrouted() -> int:
                engine._read_log()
                return int(engine.metrics()["unrouted"])

            await until(lambda: unrouted() == 30, 10, "every 503 HAProxy answered is logged")
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
            await until(lambda: bool(engine._log_conns), 10, "HAProxy's ring connected")
            timer = engine._log_timer
            assert timer is not None
            timer.cancel()  # the agent reads nothing for a while
            served = await get_many(f"http://{host}:{port}", 300)
            assert served == {"200 1": 300}
            stats = engine.stats.revision(1)
            assert stats.snapshot()["latency"]["count"] == 0  # not read yet

            def logged() -> int:
                engine._read_log()
                return int(stats.snapshot()["latency"]["count"])

            await until(lambda: logged() == 300, 10, "every line, read late")
            assert engine.unparsed_log_lines == 0
        finally:
            await engine.shutdown(timeout=2.0)
            await app.close()

    run(go)
