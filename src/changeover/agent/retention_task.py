"""The agent's retention task: once at start and every minute, bound logs, events and
the release folders the agent holds (`[releases] keep`, agent.release_retention).

Invariant: a round never raises into the agent: each failure becomes a warning (and an
agent event when the round's problems differ from the previous round's, so a lasting one
is not repeated every minute), and the next round runs anyway. Deletions are decided and
done on the loop with no await in between, so a replica cannot start between the
decision and the deletion of its log; only the copying of rotations runs in a thread.
While the proxy writes the access log (`[proxy] access_log`), `access.log` is rotated
with the replicas' logs, under the same `[logs]` limits, as a running replica's is (by
renaming: see retention_files).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from changeover.agent import release_retention
from changeover.agent import retention_files as files
from changeover.agent.retention import ACCESS, Delete, Limits, Rotate, decide
from changeover.spec.models import Spec
from changeover.supervisor.state import ReplicaState

if TYPE_CHECKING:
    from changeover.agent.core import Agent

log = logging.getLogger("changeover.retention")
INTERVAL = 60.0  # seconds between rounds


@dataclass(frozen=True)
class Settings:
    limits: Limits
    events_keep: int
    access_log: bool = False  # the proxy writes logs/access.log: rotate it like a replica's

    @classmethod
    def from_spec(cls, spec: Spec) -> Settings:
        logs = spec.logs
        limits = Limits(logs.max_size, logs.keep, logs.retain_stopped)
        return cls(limits, spec.events.keep, spec.proxy.access_log)


class Retention:
    def __init__(
        self,
        *,
        logs_dir: Path,
        settings: Settings,
        running: Callable[[], Collection[str]],
        trim_events: Callable[[int], int],
        report: Callable[[str], object],
        wall: Callable[[], float],
        prune_releases: Callable[[], list[str]] = list,
    ) -> None:
        self.logs_dir = logs_dir
        self._prune_releases = prune_releases
        self.settings = settings
        self._running = running
        self._trim_events = trim_events
        self._report = report
        self._wall = wall
        self._last: list[str] = []

    async def run(self, every: float = INTERVAL) -> None:
        """Rounds until cancelled; the first one at once."""
        while True:
            try:
                await self.round()
            except Exception:  # a bug here must not take the agent down
                log.exception("log and event retention failed")
            await asyncio.sleep(every)

    async def round(self) -> list[str]:
        """One pass over logs and events; returns this round's problems."""
        problems: list[str] = []
        rotations = self._delete_now(problems)
        if rotations:
            keep = self.settings.limits.keep
            problems += await asyncio.to_thread(_rotate_all, self.logs_dir, rotations, keep)
        try:
            if trimmed := self._trim_events(self.settings.events_keep):
                log.info("trimmed %d old event(s)", trimmed)
        except Exception as exc:  # sqlite3.Error, or the store closed under us
            problems.append(f"cannot trim events: {exc}")
        try:
            problems += self._prune_releases()
        except Exception as exc:  # as above: a round never raises
            problems.append(f"cannot prune release folders: {exc}")
        self._warn(problems)
        return problems

    def _delete_now(self, problems: list[str]) -> list[Rotate]:
        try:
            with files.logs_folder(self.logs_dir) as dir_fd:
                listing = files.list_logs(dir_fd)
                writers = set(self._running())
                if self.settings.access_log:
                    writers.add(ACCESS)
                actions = decide(listing, writers, self.settings.limits, self._wall())
                for action in actions:
                    if isinstance(action, Delete):
                        _delete(dir_fd, action, problems)
        except OSError as exc:
            problems.append(f"cannot list {self.logs_dir}: {exc.strerror or exc}")
            return []
        return [a for a in actions if isinstance(a, Rotate)]

    def _warn(self, problems: list[str]) -> None:
        for problem in problems:
            log.warning("retention: %s", problem)
        if problems and problems != self._last:
            self._report("log retention: " + "; ".join(problems))
        self._last = problems


def _delete(dir_fd: int, action: Delete, problems: list[str]) -> None:
    try:
        files.delete(dir_fd, action.name)
        log.info("deleted %s (%s)", action.name, action.why)
    except OSError as exc:
        problems.append(f"cannot delete {action.name}: {exc.strerror or exc}")


def _rotate_all(logs_dir: Path, rotations: list[Rotate], keep: int) -> list[str]:
    """Runs in a thread, with its own fd of the folder (never shared across threads)."""
    problems: list[str] = []
    try:
        with files.logs_folder(logs_dir) as dir_fd:
            for action in rotations:
                try:
                    # the proxy reopens the access log's path: renamed, not copied
                    reopens = action.replica == ACCESS
                    size = files.rotate(dir_fd, action.replica, keep, reopens=reopens)
                    log.info("rotated %s.log (%d bytes)", action.replica, size)
                except OSError as exc:
                    problems.append(f"cannot rotate {action.replica}.log: {exc.strerror or exc}")
    except OSError as exc:
        problems.append(f"cannot open {logs_dir}: {exc.strerror or exc}")
    return problems


def for_agent(agent: Agent) -> Retention:
    """Settings from the spec given to `up` (agent-level, like `[proxy]`)."""

    def running() -> set[str]:
        live = {i.id for i in agent.supervisor.replicas() if i.state is not ReplicaState.EXITED}
        # recorded = a process that may still write, e.g. during a handover
        return live | {r.id for r in agent.store.recorded_replicas()}

    return Retention(
        logs_dir=agent.paths.logs,
        settings=Settings.from_spec(agent.spec),
        running=running,
        trim_events=agent.store.trim_events,
        report=lambda message: agent.events.add("agent", message),
        wall=agent.wall,
        prune_releases=lambda: release_retention.prune(agent),
    )
