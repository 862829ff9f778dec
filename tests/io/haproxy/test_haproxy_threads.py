"""`proxy.threads` against Debian's HAProxy 2.6: the HAProxy the agent runs has that many
threads (its own `show info` says so), and by default as many as the agent's CPUs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from changeover.agent.engine import cores, make
from changeover.agent.paths import StatePaths
from changeover.haproxy.engine import HaproxyEngine
from changeover.spec.models import ProxySettings
from tests.io.haproxy.test_haproxy_real import run
from tests.parts import require


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    require("haproxy", "haproxy")


@pytest.mark.parametrize("threads", [None, 1, 3])
def test_haproxy_runs_the_threads_the_spec_asks_for(tmp_path: Path, threads: int | None) -> None:
    async def go() -> str:
        paths = StatePaths(tmp_path / "state")
        paths.ensure()
        settings = ProxySettings(engine="haproxy", threads=threads)
        engine = make(settings, paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
        assert isinstance(engine, HaproxyEngine)
        await engine.serve(socket.create_server(("127.0.0.1", 0)))
        try:
            info = await engine._client.info()
        finally:
            await engine.shutdown(timeout=1.0)
        return info["Nbthread"]

    expected = cores() if threads is None else threads
    assert run(go) == str(expected)
