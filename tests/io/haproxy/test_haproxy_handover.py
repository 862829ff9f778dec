"""Two HAProxys of two agent generations on one public socket (a reload), and `down`,
against Debian's HAProxy 2.6: each generation keeps its own files; the old one, soft-
stopped, finishes what is in flight and answers an idle keep-alive connection's next
request with `Connection: close` while the new one accepts; `down` waits for the request
in flight, then closes idle connections.
"""

from __future__ import annotations

import asyncio
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


def engine_of(paths: StatePaths, generation: int) -> HaproxyEngine:
    engine = make(
        ProxySettings(engine="haproxy"), paths, builtin=lambda: None, generation=generation
    )  # type: ignore[arg-type,return-value]
    assert isinstance(engine, HaproxyEngine)
    return engine


async def one_request(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> bytes:
    """One GET on a kept-alive connection: the response head (lowercased), b"" on EOF."""
    reader, writer = conn
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return head.lower()


def refuses(path: str) -> bool:
    """The unix socket at `path` no longer accepts (HAProxy soft-stopped closes it)."""
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(path)
    except OSError:
        return True
    finally:
        probe.close()
    return False


def never(_: list[socket.socket]) -> bool:
    raise AssertionError("HAProxy's connections are its own: nothing is sent over the channel")


def test_a_reload_passes_the_socket_to_the_next_generation_without_a_failure(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        app = App(1)
        port = await app.start()
        paths = StatePaths(tmp_path / "state")
        paths.ensure()
        public = socket.create_server(("127.0.0.1", 0))
        host, public_port = public.getsockname()[:2]
        url = f"http://{host}:{public_port}"
        old, new = engine_of(paths, 0), engine_of(paths, 1)
        idle = await asyncio.open_connection(host, public_port)  # waits in the backlog
        try:
            old.add_endpoint("r1-1", 1, "127.0.0.1", port)
            old.set_routable("r1-1", True)
            await old.serve(public)
            await settled(old)
            assert b" 200 " in await one_request(idle)  # only the old HAProxy runs yet
            slow = asyncio.ensure_future(get_many(url, 1, "/slow"))
            await app.started.wait()

            # the new agent: the same socket (inherited), the replica adopted routable
            new.add_endpoint("r1-1", 1, "127.0.0.1", port)
            new.set_routable("r1-1", True)
            await new.serve(public.dup())
            files = (new.layout.config, new.layout.pid_file, Path(new.stats_socket))
            assert {f.name for f in files} == {"haproxy.1.cfg", "haproxy.1.pid", "stats.1.sock"}
            assert all(f.exists() for f in files)
            old_master = old.master
            assert old_master is not None

            stopping = asyncio.ensure_future(old.shutdown(timeout=10.0, hand_over=never))
            await until(lambda: refuses(old.stats_socket), 10, "the old HAProxy soft-stopped")
            # the idle connection is still the old HAProxy's: one more answer, then close
            head = await one_request(idle)
            assert b" 200 " in head, head
            assert b"connection: close" in head, head
            assert await get_many(url, 20) == {"200 1": 20}  # new connections: served
            app.release.set()
            assert await slow == {"200 1": 1}  # in flight at the soft stop: finished
            await asyncio.wait_for(stopping, 15)
            assert old_master.returncode is not None
            assert not old.layout.pid_file.exists()
            assert not old.layout.config.exists()
            assert all(f.exists() for f in files)  # the old one removed none of the new one's
            assert await get_many(url, 10) == {"200 1": 10}
        finally:
            idle[1].close()
            await new.shutdown(timeout=2.0)
            await old.shutdown(timeout=2.0)
            public.close()
            await app.close()

    run(go)


def test_down_waits_for_the_request_in_flight_then_closes_idle_connections(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        app = App(1)
        port = await app.start()
        paths = StatePaths(tmp_path / "state")
        paths.ensure()
        public = socket.create_server(("127.0.0.1", 0))
        host, public_port = public.getsockname()[:2]
        engine = engine_of(paths, 0)
        idle = await asyncio.open_connection(host, public_port)  # waits in the backlog
        try:
            engine.add_endpoint("r1-1", 1, "127.0.0.1", port)
            engine.set_routable("r1-1", True)
            await engine.serve(public)
            await settled(engine)
            assert b" 200 " in await one_request(idle)
            slow = asyncio.ensure_future(get_many(f"http://{host}:{public_port}", 1, "/slow"))
            await app.started.wait()
            stopping = asyncio.ensure_future(engine.shutdown(timeout=20.0))
            await asyncio.sleep(0.5)
            assert not stopping.done()  # the slow request is still in flight
            app.release.set()
            assert await slow == {"200 1": 1}
            await asyncio.wait_for(stopping, 10)  # long before the 20 s deadline
            assert await idle[0].read() == b""  # the idle connection closed (no answer cut)
            assert engine.master is None
        finally:
            idle[1].close()
            await engine.shutdown(timeout=2.0)
            await app.close()

    run(go)
