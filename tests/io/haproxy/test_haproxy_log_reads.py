"""The request log's reads against Debian's HAProxy 2.6 (`haproxy/engine.py`, "The
request log's reads"): an idle agent never reads it (no wake-up while the stats are
polled), a line that comes wakes it, a burst is read in batches (at most one read a
LOG_TICK, far fewer reads than lines), and a HAProxy started again is read the same way.
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
from changeover.haproxy.engine import HaproxyEngine
from changeover.haproxy.logreader import LOG_TICK
from changeover.spec.models import ProxySettings
from tests.helpers import until
from tests.io.haproxy.test_haproxy_real import App, get_many, run, settled
from tests.parts import require


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    require("haproxy", "haproxy")


def latencies(engine: HaproxyEngine) -> int:
    return int(engine.stats.revision(1).snapshot()["latency"]["count"])


def test_an_idle_agent_never_reads_the_log_and_a_burst_is_read_in_batches(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        app = App(1)
        port = await app.start()
        paths = StatePaths(tmp_path / "state")
        paths.ensure()
        settings = ProxySettings(engine="haproxy", log_sample=1)  # every line: exact counts
        engine = make(settings, paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
        assert isinstance(engine, HaproxyEngine)
        polls = 0
        poll = engine.poll

        async def counted() -> None:
            nonlocal polls
            polls += 1
            await poll()

        engine.poll = counted  # type: ignore[method-assign]
        engine.add_endpoint("r1-1", 1, "127.0.0.1", port)
        engine.set_routable("r1-1", True)
        await engine.serve(socket.create_server(("127.0.0.1", 0)))
        host, public = engine.address
        url = f"http://{host}:{public}"
        try:
            await settled(engine)
            # a line wakes the agent: nothing here reads the log out of turn
            assert await get_many(url, 1) == {"200 1": 1}
            await until(lambda: latencies(engine) == 1, 10, "the first line read")

            # idle: several reads of the stats, not one of the log
            await until(lambda: engine.log_reader.idle, 10, "the log watched, no read scheduled")
            reads, start = engine.log_reader.reads, polls
            await until(lambda: polls >= start + 4, 20, "four reads of the stats")
            assert engine.log_reader.reads == reads
            assert engine.log_reader.idle

            # a burst: every line read, in batches
            loop = asyncio.get_running_loop()
            began = loop.time()
            served = await asyncio.gather(*(get_many(url, 50) for _ in range(20)))
            assert sum(s["200 1"] for s in served) == 1000
            await until(lambda: latencies(engine) == 1001, 20, "every line of the burst")
            took = loop.time() - began
            burst = engine.log_reader.reads - reads
            assert burst <= took / LOG_TICK + 2, (burst, took)  # never two reads a tick
            assert burst <= 1000 / 10, burst  # far fewer reads than lines
            await until(lambda: engine.log_reader.idle, 10, "idle again after the burst")

            # HAProxy started again: its ring connects again and is read the same way
            child = engine.master
            assert child is not None
            os.killpg(child.pid, signal.SIGKILL)
            await until(lambda: engine.master not in (None, child), 30, "a new haproxy")
            await settled(engine)
            assert await get_many(url, 3) == {"200 1": 3}
            await until(lambda: latencies(engine) == 1004, 20, "the new ring's lines")
            await until(lambda: engine.log_reader.idle, 10, "idle on the new connection")
        finally:
            await engine.shutdown(timeout=2.0)
            await app.close()
        assert engine.log_reader.quiet  # nothing left scheduled or watched

    run(go)
