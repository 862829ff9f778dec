"""The haproxy engine alone in front of one backend, for `make bench`: what the agent runs
with `[proxy] engine = "haproxy"` (its rendered configuration, HAProxy in master-worker
mode, the request log read and the stats polled by this process), without replicas of
its own, so it is measured against the same backend process as every other target.

Run: python bench/engine_host.py BACKEND_PORT PORT WORKDIR [THREADS]; it writes
WORKDIR/ready once HAProxy routes to the backend, and stops HAProxy at SIGTERM. THREADS
is `[proxy] threads` (0 or absent: the default, the CPUs available).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import uvloop

from changeover.agent.engine import make
from changeover.agent.paths import StatePaths
from changeover.haproxy.engine import HaproxyEngine
from changeover.spec.models import ProxySettings


async def main(backend: int, port: int, work: Path, threads: int) -> None:
    paths = StatePaths(work)
    paths.ensure()
    settings = ProxySettings(engine="haproxy", threads=threads or None)
    engine = make(settings, paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
    assert isinstance(engine, HaproxyEngine)
    public = socket.create_server(("127.0.0.1", port), backlog=2048)
    engine.add_endpoint("r1-1", 1, "127.0.0.1", backend)
    engine.set_routable("r1-1", True)
    await engine.serve(public)
    while engine.pending:
        await asyncio.sleep(0.01)
    (work / "ready").write_text("ready\n")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await engine.shutdown(timeout=5.0)


if __name__ == "__main__":
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    uvloop.run(main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), threads))
