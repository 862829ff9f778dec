"""Readiness watchers: one per generation, calling `on_ready` at most once.

Invariant: a watcher fires only for its own generation (READY=1 from that generation's
processes, an HTTP answer from a socket they hold, or the delay) and never after
`close()`; closing releases everything it holds (socket, reader, task, timer).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from changeover.hotrestart.notify import NotifySocket, sender_belongs
from changeover.hotrestart.probe import generation_pids, wait_ready
from changeover.hotrestart.ready import DelayReady, HttpReady, NotifyReady, ReadyMode
from changeover.supervisor.spawn import Child

OnReady = Callable[[], None]
Say = Callable[[str], None]


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
        case NotifyReady():
            return NotifyWatch(runtime_dir / f"gen{gen}.sock", on_ready, say)
        case HttpReady(path):
            return HttpWatch(target, path, on_ready)
        case DelayReady(seconds):
            return DelayWatch(seconds, on_ready)


class NotifyWatch:
    def __init__(self, path: Path, on_ready: OnReady, say: Say) -> None:
        self._sock = NotifySocket(path)
        self._on_ready: OnReady | None = on_ready
        self._say = say
        self._loop = asyncio.get_running_loop()
        self._main_pid = 0

    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self._sock.path)}

    def start(self, child: Child) -> None:
        self._main_pid = child.pid
        self._loop.add_reader(self._sock.fileno(), self._read)

    def _read(self) -> None:
        for pid, fields in self._sock.receive():
            if not sender_belongs(pid, self._main_pid, os.getpgid):
                self._say(f"ignored a notify message from pid {pid}: not this generation's")
            elif fields.get("READY") == "1" and self._on_ready is not None:
                on_ready, self._on_ready = self._on_ready, None
                on_ready()

    def close(self) -> None:
        self._on_ready = None
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()


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
