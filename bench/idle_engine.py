"""What an idle haproxy engine costs the agent: CPU and wake-ups of this process (the
agent's part: the stats poll, the reconcile tick, the request log's reads; HAProxy is a
child, not counted) over SECONDS with no request, after two seconds to settle.

Run: python bench/idle_engine.py [SECONDS]; prints the agent's CPU in ms a second and
its voluntary context switches a second (each a wake-up of the event loop, about).
"""

from __future__ import annotations

import asyncio
import resource
import socket
import sys
import tempfile
from pathlib import Path

import uvloop

from changeover.agent.engine import make
from changeover.agent.paths import StatePaths
from changeover.haproxy.engine import HaproxyEngine
from changeover.spec.models import ProxySettings


async def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as work, socket.create_server(("127.0.0.1", 0)) as app:
        paths = StatePaths(Path(work))
        paths.ensure()
        engine = make(ProxySettings(engine="haproxy"), paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
        assert isinstance(engine, HaproxyEngine)
        engine.add_endpoint("r1-1", 1, "127.0.0.1", app.getsockname()[1])
        engine.set_routable("r1-1", True)
        await engine.serve(socket.create_server(("127.0.0.1", 0)))
        try:
            while engine.pending:
                await asyncio.sleep(0.01)
            await asyncio.sleep(2.0)
            before = resource.getrusage(resource.RUSAGE_SELF)
            await asyncio.sleep(seconds)
            after = resource.getrusage(resource.RUSAGE_SELF)
        finally:
            await engine.shutdown(timeout=1.0)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    wakes = after.ru_nvcsw - before.ru_nvcsw
    print(
        f"idle haproxy engine, agent: {cpu / seconds * 1000:.2f} ms CPU a second, "
        f"{wakes / seconds:.1f} wake-ups a second ({seconds:g} s)"
    )


if __name__ == "__main__":
    uvloop.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0))
