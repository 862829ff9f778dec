"""The rollout controller: the thin layer that carries out what a pure strategy decides.

Invariant: at most one rollout is active; each tick observes the supervisor, asks the
strategy, applies its decision (replica counts, traffic weights) and records every
phase change in the store before anyone is told the rollout finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from changeover.agent.events import EventLog, ReplicaWatcher
from changeover.rollout.observe import ReplicaObs, RevisionObs
from changeover.rollout.phase import Phase
from changeover.rollout.rolling import Decision
from changeover.store import Rollout, Store
from changeover.supervisor.supervisor import ReplicaInfo, ReplicaTemplate, Supervisor

TERMINAL = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED, Phase.INTERRUPTED})
TICK = 0.1  # seconds between observations when nothing wakes the loop earlier


class Strategy(Protocol):
    @property
    def phase(self) -> Phase: ...

    def step(self, obs: Mapping[int, RevisionObs], now: float) -> Decision: ...


class Busy(Exception):
    pass


@dataclass
class Active:
    rollout: Rollout
    strategy: Strategy
    revisions: tuple[int, ...]
    done: asyncio.Future[Decision] = field(default_factory=lambda: asyncio.Future())
    phase: Phase = Phase.PROGRESSING


class Controller:
    def __init__(
        self,
        *,
        store: Store,
        supervisor: Supervisor,
        events: EventLog,
        templates: Callable[[int], ReplicaTemplate],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._supervisor = supervisor
        self._events = events
        self._templates = templates
        self._clock = clock
        self._wall = wall
        self._wake = asyncio.Event()
        self._watcher = ReplicaWatcher(events)
        self.active: Active | None = None

    def notify(self) -> None:
        """Wake the loop now; the supervisor calls this on every replica change."""
        self._wake.set()

    def begin(
        self, rollout: Rollout, strategy: Strategy, revisions: Iterable[int | None]
    ) -> asyncio.Future[Decision]:
        if self.active is not None:
            raise Busy(f"rollout {self.active.rollout.id} is still in progress")
        self.active = Active(rollout, strategy, tuple(r for r in revisions if r is not None))
        self.notify()
        return self.active.done

    async def run(self) -> None:
        while True:
            self._watcher.update(self._supervisor.replicas())
            if self.active is not None:
                self._tick(self.active)
            # asyncio.timeout awaits in place; 3.11's wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self._wake.wait()
            self._wake.clear()

    def _tick(self, active: Active) -> None:
        obs = observe(self._supervisor.replicas(), active.revisions)
        decision = active.strategy.step(obs, self._clock())
        for revision, count in decision.scale.items():
            self._supervisor.scale(self._templates(revision), count)
        rollout = active.rollout
        for message in decision.events:
            self._events.add("rollout", message, rollout_id=rollout.id)
        if decision.phase is not active.phase:
            active.phase = decision.phase
            if decision.phase in TERMINAL:
                self._store.finish_rollout(
                    rollout.id, phase=decision.phase.value, reason=decision.reason, now=self._wall()
                )
                self.active = None
                if not active.done.done():  # a caller may have given up waiting
                    active.done.set_result(decision)
            else:
                self._store.set_rollout_phase(rollout.id, decision.phase.value)

    def cancel(self, reason: str) -> None:
        """Agent shutting down mid-rollout: record it as interrupted."""
        active, self.active = self.active, None
        if active is None:
            return
        self._store.finish_rollout(
            active.rollout.id, phase=Phase.INTERRUPTED.value, reason=reason, now=self._wall()
        )
        if not active.done.done():
            active.done.cancel()


def observe(replicas: list[ReplicaInfo], revisions: Iterable[int]) -> dict[int, RevisionObs]:
    """Group the supervisor's view by revision, with an entry for every revision asked."""
    grouped: dict[int, list[ReplicaObs]] = {rev: [] for rev in revisions}
    for info in replicas:
        grouped.setdefault(info.revision, []).append(
            ReplicaObs(
                id=info.id,
                state=info.state,
                ready_since=info.ready_since,
                boot_failures=info.boot_failures,
                last_error=info.last_error,
            )
        )
    return {rev: RevisionObs(revision=rev, replicas=tuple(obs)) for rev, obs in grouped.items()}
