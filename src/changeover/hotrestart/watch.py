"""Readiness watchers: one per generation, calling `on_ready` at most once.

Invariant: a watcher fires only for its own generation (READY=1 from that generation's
processes, an HTTP answer from a socket they hold, both in the default mode, or the
delay) and never after `close()`; closing releases everything it holds (socket, reader,
task, timer).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from changeover.hotrestart.gate import Gate, notify_mode_warning
from changeover.hotrestart.notify import NotifySocket, sender_belongs
from changeover.hotrestart.probe import PERIOD, generation_pids, probe_once, wait_ready
from changeover.hotrestart.ready import AutoReady, DelayReady, HttpReady, NotifyReady, ReadyMode
from changeover.supervisor.spawn import Child

OnReady = Callable[[], None]
Say = Callable[[str], None]
OnMessage = Callable[[dict[str, str]], None]


class Watch(Protocol):
    def env(self) -> dict[str, str]: ...
    def start(self, child: Child) -> None: ...
    def close(self) -> None: ...


def make_watch(
    mode: ReadyMode,
    gen: int,
    runtime_dir: Path,
    target: tuple[str, int],
    on_ready: OnReady,
    say: Say,
) -> Watch:
    """The watcher for `mode`; OSError if its notify socket cannot be bound."""
    match mode:
        case AutoReady():
            return AutoWatch(gen, runtime_dir / f"gen{gen}.sock", target, on_ready, say)
        case NotifyReady():
            return NotifyWatch(gen, runtime_dir / f"gen{gen}.sock", on_ready, say)
        case HttpReady(path):
            return HttpWatch(target, path, on_ready)
        case DelayReady(seconds):
            return DelayWatch(seconds, on_ready)


def where(target: tuple[str, int]) -> str:
    host, port = target
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class NotifyListener:
    """Our end of a generation's NOTIFY_SOCKET: passes on what its processes send."""

    def __init__(self, path: Path, on_message: OnMessage, say: Say) -> None:
        self._sock = NotifySocket(path)
        self._on_message, self._say = on_message, say
        self._loop = asyncio.get_running_loop()
        self._main_pid = 0

    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self._sock.path)}

    def start(self, main_pid: int) -> None:
        self._main_pid = main_pid
        self._loop.add_reader(self._sock.fileno(), self._read)

    def _read(self) -> None:
        for pid, fields in self._sock.receive():
            if not sender_belongs(pid, self._main_pid, os.getpgid):
                self._say(f"ignored a notify message from pid {pid}: not this generation's")
            else:
                self._on_message(fields)

    def close(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()


class NotifyWatch:
    def __init__(self, gen: int, path: Path, on_ready: OnReady, say: Say) -> None:
        self._gen, self._say = gen, say
        self._on_ready: OnReady | None = on_ready
        self._listener = NotifyListener(path, self._message, say)

    def env(self) -> dict[str, str]:
        return self._listener.env()

    def start(self, child: Child) -> None:
        self._listener.start(child.pid)

    def _message(self, fields: dict[str, str]) -> None:
        if fields.get("READY") == "1" and self._on_ready is not None:
            if (warning := notify_mode_warning(self._gen, fields)) is not None:
                self._say(warning)
            on_ready, self._on_ready = self._on_ready, None
            on_ready()

    def close(self) -> None:
        self._on_ready = None
        self._listener.close()


class AutoWatch:
    """The default: HTTP probes through the shared socket and the notify socket, feeding
    one `Gate`; probing stops once the HTTP side holds."""

    def __init__(
        self, gen: int, path: Path, target: tuple[str, int], on_ready: OnReady, say: Say
    ) -> None:
        self._gate = Gate(gen, where(target))
        self._target, self._say = target, say
        self._on_ready: OnReady | None = on_ready
        self._listener = NotifyListener(path, self._message, say)
        self._task: asyncio.Task[None] | None = None

    def env(self) -> dict[str, str]:
        return self._listener.env()

    def start(self, child: Child) -> None:
        self._listener.start(child.pid)
        self._task = asyncio.get_running_loop().create_task(self._probe(child.pid))

    def _message(self, fields: dict[str, str]) -> None:
        self._feed(self._gate.message(fields))

    async def _probe(self, main_pid: int) -> None:
        while not self._gate.http_ok:
            status = await probe_once(
                self._target, self._gate.path, lambda: generation_pids(main_pid)
            )
            if status is not None:
                self._feed(self._gate.answer(status))
            if not self._gate.http_ok:
                await asyncio.sleep(PERIOD)

    def _feed(self, notes: list[str]) -> None:
        for note in notes:
            self._say(note)
        if self._gate.opened and self._on_ready is not None:
            on_ready, self._on_ready = self._on_ready, None
            on_ready()

    def close(self) -> None:
        self._on_ready = None
        if self._task is not None:
            self._task.cancel()
        self._listener.close()


class HttpWatch:
    def __init__(self, target: tuple[str, int], path: str, on_ready: OnReady) -> None:
        self._target, self._path, self._on_ready = target, path, on_ready
        self._task: asyncio.Task[None] | None = None

    def env(self) -> dict[str, str]:
        return {}

    def start(self, child: Child) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(child.pid))

    async def _run(self, main_pid: int) -> None:
        await wait_ready(self._target, self._path, lambda: generation_pids(main_pid))
        self._on_ready()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()


class DelayWatch:
    def __init__(self, seconds: float, on_ready: OnReady) -> None:
        self._seconds, self._on_ready = seconds, on_ready
        self._timer: asyncio.TimerHandle | None = None

    def env(self) -> dict[str, str]:
        return {}

    def start(self, child: Child) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._seconds, self._on_ready)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
