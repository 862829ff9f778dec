"""Adopting replicas a previous agent started: watch them, probe them, restart them later.

Invariant: a process is adopted only if its pid, opened as a pidfd, still has the
recorded psutil create_time (so a reused pid is never adopted), and it is signalled only
through that pidfd, which can never name another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import signal
import socket
from dataclasses import dataclass
from signal import SIGKILL

import psutil

from changeover.supervisor import lifecycle
from changeover.supervisor.health import Action, Health, Kind
from changeover.supervisor.orphans import CREATE_TIME_TOLERANCE
from changeover.supervisor.probes import ProbeTracker
from changeover.supervisor.process import ADOPTED_EXIT
from changeover.supervisor.replica import Replica
from changeover.supervisor.state import ReplicaEvent

log = logging.getLogger(__name__)


class Verdict(enum.Enum):
    ADOPT = "adopt"
    GONE = "gone"  # exited since it was recorded: start a new process instead
    REUSED = "reused"  # the pid now names another process: never touch it

    def __repr__(self) -> str:
        return f"<Verdict {self.value}>"


@dataclass(frozen=True)
class Observed:
    """What psutil says about a pid now: its start time and whether it is a zombie."""

    create_time: float
    zombie: bool


@dataclass(frozen=True)
class Adoptee:
    """One replica as the previous agent handed it over."""

    replica_id: str  # "r{revision}-{index}"
    pid: int | None  # None: it was between two processes (backoff)
    create_time: float
    port: int
    sock: socket.socket | None  # its listening socket (fd 3 of the app); None in port mode
    ready: bool  # the previous agent routed to it


def decide(recorded_create_time: float, observed: Observed | None) -> Verdict:
    """Pure: adopt only the very process that was recorded, alive."""
    if observed is None or observed.zombie:
        return Verdict.GONE
    if abs(observed.create_time - recorded_create_time) > CREATE_TIME_TOLERANCE:
        return Verdict.REUSED
    return Verdict.ADOPT


def observe(pid: int) -> Observed | None:
    try:
        proc = psutil.Process(pid)
        return Observed(proc.create_time(), proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return None


class AdoptedProcess:
    """A `Child` we did not spawn: exit seen through a pidfd, exit code unknown."""

    def __init__(self, pid: int, create_time: float, pidfd: int) -> None:
        self.pid = pid
        self.pgid = pid
        self.create_time: float | None = create_time
        self.returncode: int | None = None
        self._loop = asyncio.get_running_loop()
        self._done: asyncio.Future[int] = self._loop.create_future()
        self._pidfd: int | None = pidfd
        self._loop.add_reader(pidfd, self._exited)

    @classmethod
    def open(cls, pid: int, create_time: float) -> tuple[Verdict, AdoptedProcess | None]:
        """Open the pid as a pidfd first, then check it is the recorded process."""
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return Verdict.GONE, None
        verdict = decide(create_time, observe(pid))
        if verdict is not Verdict.ADOPT:
            os.close(pidfd)
            return verdict, None
        return verdict, cls(pid, create_time, pidfd)

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    def signal(self, sig: int) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, sig)

    def kill_group(self, sig: int = SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def _exited(self) -> None:
        self.returncode = ADOPTED_EXIT
        self.close()
        if not self._done.done():
            self._done.set_result(ADOPTED_EXIT)

    def close(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None


class _AdoptedHealth(Health):
    def begin(self) -> list[Action]:
        return []  # already started and ready: nothing is due before the next probe


def ready_health(rep: Replica) -> Health:
    """Probe gating of a replica the previous agent saw ready: started, readiness passing."""
    health = _AdoptedHealth(rep.template.probes)
    health.started = True
    probe = health.probes.get(Kind.READINESS)
    if probe is not None:
        health.trackers[Kind.READINESS] = ProbeTracker(probe, True)
    return health


async def run_adopted(rep: Replica, child: AdoptedProcess, ready: bool) -> None:
    """Supervise the adopted process until it exits, then restart it like any replica."""
    reason = await _watch(rep, child, ready)
    rep.last_error = reason
    rep.move(ReplicaEvent.RUN_ENDED)
    delay = rep.backoff.failure(rep.hooks.clock())
    log.info("replica %s: %s; restarting in %.2fs", rep.id, reason, delay)
    await asyncio.sleep(delay)
    rep.restarts += 1
    rep.move(ReplicaEvent.BACKOFF_ELAPSED)
    await lifecycle.run(rep)


async def _watch(rep: Replica, child: AdoptedProcess, ready: bool) -> str:
    rep.ready_this_run = ready
    events: asyncio.Queue[lifecycle._Event] = asyncio.Queue()
    tasks = lifecycle._ProbeTasks(rep, events)
    tasks.start -= 3600.0  # initial delays already passed under the previous agent
    health = ready_health(rep) if ready else Health(rep.template.probes)
    watcher = asyncio.create_task(lifecycle._report_exit(child, events))
    try:
        return await lifecycle._supervise(rep, child, health, tasks, events)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, *tasks.cancel_all(), return_exceptions=True)


__all__ = ["Action", "AdoptedProcess", "Adoptee", "Observed", "Verdict", "decide", "run_adopted"]
