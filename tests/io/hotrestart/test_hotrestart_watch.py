"""The default readiness watcher on real sockets: HTTP probes through the shared socket and
the generation's own notify socket, fed to one gate. This process plays the generation."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from changeover.hotrestart.fakes import FakeChild
from changeover.hotrestart.ready import AutoReady, NotifyReady
from changeover.hotrestart.watch import Watch, make_watch
from tests.helpers import bounded, until


class App:
    """An HTTP server in this process: `status[path]` answers (404 for other paths); with
    `close`, the connection is closed after each answer (gunicorn's sync workers)."""

    def __init__(self, status: dict[str, int], *, close: bool = False) -> None:
        self.status, self.close = status, close
        self.asked: list[str] = []

    async def start(self) -> tuple[asyncio.Server, tuple[str, int]]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return server, server.sockets[0].getsockname()[:2]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                path = head.split(b" ", 2)[1].decode()
                self.asked.append(path)
                code = self.status.get(path, 404)
                close = b"Connection: close\r\n" if self.close else b""
                writer.write(b"HTTP/1.1 %d X\r\nContent-Length: 0\r\n%b\r\n" % (code, close))
                if self.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def send(watch: Watch, message: bytes) -> None:
    """A notify datagram from this process (the generation's main process here)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message, watch.env()["NOTIFY_SOCKET"])


def test_gunicorns_early_ready_waits_for_an_http_answer(short_tmp: Path) -> None:
    app, lines, fired = App({"/readyz": 503}), [], []

    async def scenario() -> tuple[str, int]:
        server, target = await app.start()
        async with server:
            watch = make_watch(
                AutoReady(), 2, short_tmp, target, lambda: fired.append(1), lines.append
            )
            watch.start(FakeChild(os.getpid()))
            send(watch, b"READY=1\nSTATUS=Gunicorn arbiter booted")
            await until(lambda: len(lines) >= 2, what="both notes")
            assert not fired
            app.status["/readyz"] = 200
            await until(lambda: fired, what="ready")
            watch.close()
        return target

    host, port = bounded(scenario())
    assert sorted(lines[:2]) == [
        "generation 2 sent READY=1 before any of its processes answers HTTP (gunicorn's arbiter"
        f" sends it before any worker has booted): waiting for an answer on {host}:{port} too",
        "generation 2: GET /readyz answered 503; not ready yet",
    ]
    assert lines[2:] == ["generation 2 is ready: GET /readyz answered 200 and it sent READY=1"]
    assert fired == [1]
    assert not (short_tmp / "gen2.sock").exists()


def test_a_server_without_readiness_path_that_closes_after_each_answer_is_ready(
    short_tmp: Path,
) -> None:
    app, lines, fired = App({}, close=True), [], []

    async def scenario() -> None:
        server, target = await app.start()
        async with server:
            watch = make_watch(
                AutoReady(), 1, short_tmp, target, lambda: fired.append(1), lines.append
            )
            watch.start(FakeChild(os.getpid()))
            await until(lambda: fired, what="ready")
            watch.close()

    bounded(scenario())
    assert app.asked == ["/readyz", "/"]
    assert lines == [
        "generation 1: GET /readyz answered 404, so readiness is GET / with any status below 500",
        "generation 1 is ready: GET / answered 404",
    ]


def test_a_generation_that_speaks_notify_is_ready_only_with_ready(short_tmp: Path) -> None:
    app, lines, fired = App({"/readyz": 200}), [], []

    async def scenario() -> None:
        server, target = await app.start()
        async with server:
            watch = make_watch(
                AutoReady(), 3, short_tmp, target, lambda: fired.append(1), lines.append
            )
            watch.start(FakeChild(os.getpid()))
            send(watch, b"STATUS=loading models")
            await until(lambda: any("waiting for its READY=1" in x for x in lines), what="note")
            assert not fired
            asked = len(app.asked)
            send(watch, b"READY=1")
            await until(lambda: fired, what="ready")
            assert len(app.asked) == asked  # the HTTP side held: probing had stopped
            watch.close()

    bounded(scenario())
    assert lines[-1] == "generation 3 is ready: GET /readyz answered 200 and it sent READY=1"


def test_notify_mode_takes_gunicorns_early_ready_but_warns(short_tmp: Path) -> None:
    lines: list[str] = []
    fired: list[int] = []

    async def scenario() -> None:
        watch = make_watch(
            NotifyReady(), 4, short_tmp, ("127.0.0.1", 9), lambda: fired.append(1), lines.append
        )
        watch.start(FakeChild(os.getpid()))
        send(watch, b"READY=1\nSTATUS=Gunicorn arbiter booted")
        await until(lambda: fired, what="ready")
        watch.close()

    bounded(scenario())
    assert fired == [1]
    (warning,) = lines
    assert warning.startswith("generation 4: this READY=1 comes from gunicorn's arbiter")
