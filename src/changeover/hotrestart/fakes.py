"""Fakes of the runner's effects, shipped for tests: a launcher of pretend processes.

Invariant: a fake child exits once, keeps that status, and records every signal sent to
it; the launcher records every launch, so tests assert on order without timing.
"""

from __future__ import annotations

import asyncio
import itertools
from signal import SIGKILL

from changeover.hotrestart.spawn import Launch
from changeover.supervisor.spawn import SpawnError


class FakeChild:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.create_time: float | None = None
        self.returncode: int | None = None
        self.signals: list[int] = []
        self.group_kills = 0
        self._done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    def signal(self, sig: int) -> None:
        if self.returncode is None:
            self.signals.append(sig)

    def kill_group(self, sig: int = SIGKILL) -> None:
        self.group_kills += 1
        self.exit(-sig)

    def exit(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            self._done.set_result(code)


class FakeLauncher:
    """Hands out FakeChild objects; `fail_next` makes the next spawn raise SpawnError."""

    def __init__(self) -> None:
        self.launches: list[Launch] = []
        self.children: list[FakeChild] = []
        self.fail_next: str | None = None
        self._pids = itertools.count(90001)

    def spawn(self, launch: Launch) -> FakeChild:
        self.launches.append(launch)
        if self.fail_next is not None:
            message, self.fail_next = self.fail_next, None
            raise SpawnError(message)
        child = FakeChild(next(self._pids))
        self.children.append(child)
        return child
