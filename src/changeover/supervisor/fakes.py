"""Fakes of the supervisor's effects, shipped for other packages' tests.

Invariant: the fakes keep the real contracts (a routable replica was added and not yet
removed; a child exits once and reports that status forever) and record every call, so
tests can assert on order without timing; a scripted prober's results come only when
the test gives them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
from signal import SIGKILL
from typing import Any

from changeover.spec.models import Probe
from changeover.supervisor.probes import ProbeOutcome
from changeover.supervisor.spawn import SpawnError, SpawnSpec


class RecordingRouting:
    """The `Routing` protocol in memory; `drain` returns True at once unless held."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.endpoints: dict[str, tuple[int, str, int]] = {}  # id -> (revision, host, port)
        self.routable: set[str] = set()
        self.held: set[str] = set()  # ids whose drain waits for `release`
        self._released: dict[str, asyncio.Event] = {}

    def add_endpoint(self, replica_id: str, revision: int, host: str, port: int) -> None:
        self.calls.append(("add_endpoint", replica_id, revision, host, port))
        self.endpoints[replica_id] = (revision, host, port)

    def set_routable(self, replica_id: str, routable: bool) -> None:
        self.calls.append(("set_routable", replica_id, routable))
        if routable and replica_id not in self.endpoints:
            raise KeyError(f"set_routable on unknown replica {replica_id!r}")
        (self.routable.add if routable else self.routable.discard)(replica_id)

    async def drain(self, replica_id: str, timeout: float) -> bool:  # noqa: ASYNC109
        self.calls.append(("drain", replica_id, timeout))
        if replica_id not in self.held:
            return True
        released = self._released.setdefault(replica_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await released.wait()
                return True
        return False

    def release(self, replica_id: str) -> None:
        self.held.discard(replica_id)
        self._released.setdefault(replica_id, asyncio.Event()).set()

    def remove_endpoint(self, replica_id: str) -> None:
        self.calls.append(("remove_endpoint", replica_id))
        self.endpoints.pop(replica_id, None)
        self.routable.discard(replica_id)

    def calls_for(self, replica_id: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[1] == replica_id]


class FakeChild:
    """A simulated process: exits on `exit()`, or on a signal it does not ignore."""

    def __init__(self, pid: int, spec: SpawnSpec, ignore: frozenset[int]) -> None:
        self.pid = pid
        self.spec = spec
        self.create_time: float | None = 1_000_000.0 + pid
        self.returncode: int | None = None
        self.signals: list[int] = []  # sent to the main process while it ran
        self.group_signals: list[int] = []  # sent to the process group, at any time
        self.ignore = ignore
        self._exited = asyncio.Event()

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode

    def exit(self, code: int = 0) -> None:
        if self.returncode is None:
            self.returncode = code
            self._exited.set()

    def signal(self, sig: int) -> None:
        if self.returncode is None:
            self.signals.append(sig)
            if sig not in self.ignore:
                self.exit(-sig)

    def kill_group(self, sig: int = SIGKILL) -> None:
        self.group_signals.append(sig)
        if sig == signal.SIGKILL or sig not in self.ignore:
            self.exit(-sig)


class FakeSpawner:
    """Hands out `FakeChild`ren; pre_stop hooks (`/bin/sh -c ...`) exit 0 at once."""

    def __init__(self, *, ignore_signals: tuple[int, ...] = ()) -> None:
        self.specs: list[SpawnSpec] = []
        self.children: list[FakeChild] = []
        self.fail_with = ""  # non-empty: the next spawns raise SpawnError(fail_with)
        self.ignore = frozenset(ignore_signals)
        self._pids = itertools.count(4_000_000)  # above any real pid_max: never signalled

    def spawn(self, spec: SpawnSpec) -> FakeChild:
        self.specs.append(spec)
        if self.fail_with:
            raise SpawnError(self.fail_with)
        child = FakeChild(next(self._pids), spec, self.ignore)
        if list(spec.argv[:2]) == ["/bin/sh", "-c"]:
            child.exit(0)
        else:
            self.children.append(child)
        return child

    def of(self, replica_id: str) -> list[FakeChild]:
        """The app processes spawned for `replica_id`, oldest first."""
        return [c for c in self.children if c.spec.env.get("CHANGEOVER_REPLICA") == replica_id]


class ScriptedProber:
    """A `Prober` whose every probe waits for the next outcome the test gives."""

    def __init__(self) -> None:
        self.paths: list[str] = []  # of every probe asked, in order
        self.given = 0
        self._answers: asyncio.Queue[ProbeOutcome] = asyncio.Queue()
        self._asked = asyncio.Event()

    async def __call__(self, host: str, port: int, probe: Probe) -> ProbeOutcome:
        self.paths.append(probe.path)
        self._asked.set()
        return await self._answers.get()

    async def answer(self, *outcomes: ProbeOutcome) -> None:
        """Give the outcomes in turn, each to a probe waiting for it; return once the
        probe after the last one asks, so the supervisor has handled every outcome given
        (a probe's result is handled before its next period begins). For a replica with
        one probe, which must keep probing after these outcomes."""
        for outcome in outcomes:
            await self._waiting()
            self.given += 1
            self._answers.put_nowait(outcome)
        await self._waiting()

    async def _waiting(self) -> None:
        """Until a probe waits for an outcome: more asked than given."""
        while len(self.paths) <= self.given:
            self._asked.clear()
            await self._asked.wait()
