"""The thin layer around `descendants`: read the table, record, kill escapees, reap orphans.

Invariant: decide-then-act. Every kill and every reap is chosen by a pure function of
`descendants` from one table read; this module only reads the table, signals (verified by
create_time) and calls `waitpid(pid, WNOHANG)` for the pids chosen. Only real processes
(spawned or adopted) are looked at: a fake child's pid may name a stranger.

Stop order is unchanged (stop signal, grace, SIGKILL of the group); escaped descendants
are SIGKILLed right after the group's final SIGKILL, never signalled before it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable

from changeover.supervisor import proctable, subreaper
from changeover.supervisor.adopt import AdoptedProcess
from changeover.supervisor.descendants import (
    MARKER,
    AgentView,
    ProcView,
    Target,
    orphans,
    same_time,
    to_kill,
    to_reap,
)
from changeover.supervisor.escape_watch import LOOK_INTERVAL, Watch
from changeover.supervisor.process import ChildProcess, owned_pids
from changeover.supervisor.spawn import Child

log = logging.getLogger(__name__)

Live = Callable[[], Iterable[tuple[str, Child]]]  # (replica id, its current process)
SETTLE_POLL = 0.02


class EscapeGuard:
    """One per supervisor: `sweep` every `interval`, `record` before a stop, `kill` after."""

    def __init__(
        self,
        live: Live,
        *,
        read: Callable[[], dict[int, ProcView]] = proctable.scan,
        clock: Callable[[], float] = time.monotonic,
        interval: float = LOOK_INTERVAL,
    ) -> None:
        self._live = live
        self._read = read
        self._clock = clock
        self.interval = interval
        self.watch = Watch(os.getpid(), interval)
        self._own_marker = os.environ.get(MARKER)  # inherited by all we spawn: proves nothing
        self._killed: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin the periodic sweep on the running loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="changeover-escape-sweep")

    async def close(self, settle: float = 0.0) -> None:
        """Stop sweeping; first, for up to `settle` s, reap the escapees killed so far."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        deadline = self._clock() + settle
        while True:
            table = self._read()
            self._reap(table)
            if not self._pending(table) or self._clock() >= deadline:
                return
            await asyncio.sleep(SETTLE_POLL)

    def record(self, replica_id: str, child: Child) -> None:
        """Record the descendants of `child` now (right before it is stopped)."""
        if _real(child) and child.returncode is None:
            self.watch.record(replica_id, child.pid, self._read(), self._clock())

    def kill(self, replica_id: str, child: Child) -> list[int]:
        """SIGKILL what `child`'s group kill missed; forget the replica's records."""
        if not _real(child):
            return []
        table, agent = self._read(), self.agent()
        self._mark(table, [pid for pid in orphans(table, agent) if not table[pid].zombie])
        target = Target(replica_id, child.pid, child.create_time)
        chosen = to_kill(self.watch.forget(replica_id), table, target, agent)
        killed = [pid for pid in sorted(chosen) if self._kill(pid, table[pid].create_time)]
        if killed:
            log.warning("replica %s: killed escaped process(es) %s", replica_id, killed)
            self.watch.adopt(table, killed)
            self._killed.update((pid, table[pid].create_time) for pid in killed)
        return killed

    @staticmethod
    def _kill(pid: int, created: float) -> bool:
        return subreaper.kill_verified(pid, created, proctable.create_time)

    def sweep(self, table: dict[int, ProcView]) -> list[int]:
        """One periodic look: record due replicas, note adoptable orphans, reap; the reaped."""
        now = self._clock()
        for replica_id, child in self._running():
            if self.watch.due(replica_id, now):
                self.watch.record(replica_id, child.pid, table, now)
        self.watch.remember(table)
        agent = self.agent()
        leaders = [
            pid
            for pid in orphans(table, agent)
            if not table[pid].zombie and table[pid].pgid in (pid, agent.pgid)
        ]
        self._mark(table, self.watch.unchecked(table, leaders))
        self.watch.adopt(table, [pid for pid in leaders if table[pid].marker is not None])
        return self._reap(table)

    def agent(self) -> AgentView:
        leaders = {child.pid for _, child in self._live()}
        return AgentView(self.watch.agent_pid, os.getpgrp(), owned_pids() | leaders)

    def _running(self) -> list[tuple[str, Child]]:
        return [(rid, c) for rid, c in self._live() if _real(c) and c.returncode is None]

    def _mark(self, table: dict[int, ProcView], pids: list[int]) -> None:
        for pid in pids:
            marker = proctable.read_marker(pid)
            if marker is not None and marker != self._own_marker:
                table[pid] = table[pid]._replace(marker=marker)

    def _reap(self, table: dict[int, ProcView]) -> list[int]:
        """Reap what `to_reap` chooses; the reaped leave `table`."""
        reaped = subreaper.reap(to_reap(table, self.agent(), self.watch.adopted))
        for pid in reaped:
            del table[pid]
        return reaped

    def _pending(self, table: dict[int, ProcView]) -> bool:
        """Some killed escapee is still the agent's child (not yet dead or not yet reaped)."""
        self._killed = {p: ct for p, ct in self._killed.items() if alive_or_zombie(table, p, ct)}
        return any(table[p].ppid == self.watch.agent_pid for p in self._killed)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.sweep(await asyncio.to_thread(self._read))
            except Exception:  # one bad look must not end the sweeping
                log.exception("escape sweep failed; trying again in %gs", self.interval)


def alive_or_zombie(table: dict[int, ProcView], pid: int, created: float) -> bool:
    return pid in table and same_time(table[pid].create_time, created)


def _real(child: Child) -> bool:
    return isinstance(child, ChildProcess | AdoptedProcess)
