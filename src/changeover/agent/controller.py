"""The rollout controller: the thin layer that carries out what a pure strategy decides.

Invariant: at most one rollout is active; each tick observes the supervisor and the
analysis runs, asks the strategy, applies its decision (traffic first, so no new request
goes where replicas are about to leave; then replica counts, stopping exactly the
replicas the decision names; then analysis runs) and records every phase change in the
store before anyone is told the rollout finished (with the revision a rollback that gave
up left serving: the store makes it stable if it is the target). Observation, decision
and application happen in one synchronous stretch, so the replicas a decision names are
those it saw. Between rollouts, traffic goes to every ready replica unless a revision is
being kept warm after a blue-green switch (`linger`), which gets no traffic and is
scaled down when its time is up or when another rollout starts. When a rollout fails
while a target replica keeps failing at boot, the last lines that replica wrote follow
the failure as one `output` event (`agent.output`). A firing alert (`alert`) reaches the
strategy only for a deploy whose target it is about; the strategy decides the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from changeover.agent.events import EventLog, ReplicaWatcher
from changeover.agent.ops.tally import Tally
from changeover.agent.output import failed_at_boot, last_lines, output_message
from changeover.rollout.decision import (
    NO_RUNS,
    AnalysisObs,
    Command,
    CommandRefused,
    Decision,
    Traffic,
)
from changeover.rollout.events import AlertFired
from changeover.rollout.observe import ReplicaObs, RevisionObs
from changeover.rollout.phase import Phase
from changeover.rollout.strategy import Strategy
from changeover.store import Rollout, RolloutKind, Store
from changeover.supervisor.supervisor import ReplicaInfo, ReplicaTemplate, Supervisor

TERMINAL = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED, Phase.INTERRUPTED})
GOING = frozenset({Phase.PROGRESSING, Phase.PAUSED, Phase.GUARDING})
FAILING = frozenset({Phase.ROLLING_BACK, Phase.FAILED})  # aborts are stored by `command`
TICK = 0.1  # seconds between observations when nothing wakes the loop earlier


class TrafficSink(Protocol):
    def apply(self, traffic: Traffic) -> bool: ...


class AnalysisRuns(Protocol):
    def sync(self, rollout_id: int, requests: Any, templates: Any) -> None: ...
    def observe(self) -> dict[str, AnalysisObs]: ...
    def reset(self) -> None: ...


Notifier = Callable[[str, Rollout, str], None]  # (kind, rollout, message)


class Busy(Exception):
    pass


class NoRollout(Exception):
    """A command needs an active rollout and there is none."""


@dataclass
class Active:
    rollout: Rollout
    strategy: Strategy
    revisions: tuple[int, ...]
    done: asyncio.Future[Decision] = field(default_factory=lambda: asyncio.Future())
    phase: Phase = Phase.PROGRESSING
    decision: Decision | None = None  # the latest, for status


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
        traffic: TrafficSink | None = None,
        analyses: AnalysisRuns | None = None,
        analysis_templates: Callable[[int], Mapping[str, Any]] = lambda rev: {},
        notifier: Notifier | None = None,
        tally: Tally | None = None,
    ) -> None:
        self._store = store
        self._supervisor = supervisor
        self._events = events
        self._templates = templates
        self._clock = clock
        self._wall = wall
        self._traffic = traffic
        self._analyses = analyses
        self._analysis_templates = analysis_templates
        self._notifier = notifier
        self.tally = Tally() if tally is None else tally
        self._wake = asyncio.Event()
        self._watcher = ReplicaWatcher(events)
        self.active: Active | None = None
        self.linger: dict[int, float] = {}  # warm revision -> when to scale it down
        self._resting = Traffic()  # traffic between rollouts

    def notify(self) -> None:
        """Wake the loop now; the supervisor calls this on every replica change."""
        self._wake.set()

    def begin(
        self,
        rollout: Rollout,
        strategy: Strategy,
        revisions: Iterable[int | None],
        announced: bool = False,
    ) -> asyncio.Future[Decision]:
        """Make `rollout` the active one; `announced`: its "started" notification went
        out already (before the expand it ran first)."""
        if self.active is not None:
            raise Busy(f"rollout {self.active.rollout.id} is still in progress")
        self.active = Active(rollout, strategy, tuple(r for r in revisions if r is not None))
        for revision in list(self.linger):
            # a warm revision the new rollout does not use would share traffic: stop it now
            del self.linger[revision]
            if revision not in self.active.revisions:
                self._scale_down_warm(revision)
        self._resting = Traffic()
        if not announced:
            self._notify("started", rollout, "")
        self.notify()
        return self.active.done

    def command(self, command: Command, by: str = "operator") -> str:
        """Hand an operator command to the active strategy; the next tick carries it out."""
        active = self.active
        if active is None:
            raise NoRollout(f"no rollout is in progress: nothing to {command.value}")
        message = active.strategy.command(command.event(by), self._clock())
        phase = active.strategy.phase
        if phase is not active.phase and phase not in TERMINAL:
            # record it now: the next step may move on again (paused -> ... -> succeeded)
            active.phase = phase
            self._store.set_rollout_phase(active.rollout.id, phase.value)
        self.notify()
        return message

    def alert(self, event: AlertFired, revision: int | None) -> str:
        """Hand a firing alert to the active rollout, if it is one an alert may reverse:
        a deploy (an undo is the operator's own way back), to the revision the alert is
        about when it names one. Refused (CommandRefused, NoRollout) with the reason."""
        active = self.active
        if active is None:
            raise NoRollout("no rollout is in progress")
        rollout = active.rollout
        if rollout.kind is not RolloutKind.DEPLOY:
            raise CommandRefused(f"rollout {rollout.id} is an {rollout.kind.value}")
        if revision is not None and revision != rollout.to_revision:
            raise CommandRefused(
                f"the alert is about revision {revision}; rollout {rollout.id} moves to "
                f"revision {rollout.to_revision}"
            )
        message = active.strategy.alert(event)
        self.notify()
        return message

    async def run(self) -> None:
        while True:
            replicas = self._supervisor.replicas()
            self._watcher.update(replicas)
            self.tally.restarts.update(replicas)
            if self.active is not None:
                self._tick(self.active)
            else:
                self._rest()
            # asyncio.timeout awaits in place; 3.11's wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self._wake.wait()
            self._wake.clear()

    def _tick(self, active: Active) -> None:
        replicas = self._supervisor.replicas()
        obs = observe(replicas, active.revisions)
        runs = self._analyses.observe() if self._analyses is not None else NO_RUNS
        decision = active.strategy.step(obs, self._clock(), runs)
        active.decision = decision
        rollout = active.rollout
        if self._traffic is not None and self._traffic.apply(decision.traffic):
            weights = decision.traffic.weights
            if weights is not None:
                split = ", ".join(f"revision {r}: {w}%" for r, w in sorted(weights.items()))
                self._events.add("traffic", f"traffic: {split}", rollout_id=rollout.id)
        for revision, count in decision.scale.items():
            remove = decision.remove.get(revision, ())
            self._supervisor.scale(self._templates(revision), count, remove=remove)
        if self._analyses is not None and decision.phase not in TERMINAL:
            templates = self._analysis_templates(rollout.to_revision)
            self._analyses.sync(rollout.id, decision.analyses, templates)
        for message in decision.events:
            self._events.add("rollout", message, rollout_id=rollout.id)
        if active.phase in GOING and decision.phase in FAILING:
            self._show_output(rollout, replicas)  # as they were when it failed
        for notice in decision.notices:
            self._notify(notice.value, rollout, next(iter(decision.events), ""))
        if decision.phase is not active.phase:
            active.phase = decision.phase
            if decision.phase in TERMINAL:
                self._finish(active, decision)
            else:
                self._store.set_rollout_phase(rollout.id, decision.phase.value)
                if decision.phase is Phase.PAUSED:
                    self._notify("paused", rollout, decision.events[-1] if decision.events else "")

    def _show_output(self, rollout: Rollout, replicas: list[ReplicaInfo]) -> None:
        failed = failed_at_boot(replicas, rollout.to_revision)
        if failed is not None:
            message = output_message(failed.id, last_lines(failed.log_path))
            self._events.add("output", message, rollout_id=rollout.id, revision=rollout.to_revision)

    def _finish(self, active: Active, decision: Decision) -> None:
        rollout = active.rollout
        self._store.finish_rollout(
            rollout.id,
            phase=decision.phase.value,
            reason=decision.reason,
            now=self._wall(),
            kept=decision.kept,
        )
        self.active = None
        if self._analyses is not None:
            self._analyses.reset()
        self.linger = dict(decision.linger)
        if self.linger:  # the warm revision must keep getting no traffic
            self._resting = Traffic(weights={rollout.to_revision: 100})
        kind = decision.phase.value
        if decision.phase is Phase.FAILED and rollout.from_revision is not None:
            # a rollback that gave up at its deadline did not roll back: "failed"
            kind = "rolled-back" if decision.kept is None else "failed"
        self.tally.outcome(kind)
        self._notify(kind, rollout, decision.reason)
        if not active.done.done():  # a caller may have given up waiting
            active.done.set_result(decision)

    def _rest(self) -> None:
        now = self._clock()
        for revision, until in list(self.linger.items()):
            if now >= until:
                del self.linger[revision]
                self._scale_down_warm(revision)
        if not self.linger:
            self._resting = Traffic()
        if self._traffic is not None:
            self._traffic.apply(self._resting)

    def _scale_down_warm(self, revision: int) -> None:
        self._supervisor.scale(self._templates(revision), 0)
        self._events.add("rollout", f"scaled down warm revision {revision}", revision=revision)

    def _notify(self, kind: str, rollout: Rollout, message: str) -> None:
        if self._notifier is not None:
            self._notifier(kind, rollout, message)

    def cancel(self, reason: str) -> None:
        """Agent shutting down mid-rollout: record it as interrupted."""
        active, self.active = self.active, None
        if self._analyses is not None:
            self._analyses.reset()
        if active is None:
            return
        self._store.finish_rollout(
            active.rollout.id, phase=Phase.INTERRUPTED.value, reason=reason, now=self._wall()
        )
        self.tally.outcome(Phase.INTERRUPTED.value)
        if not active.done.done():
            active.done.cancel()


def keep_guarded_target(store: Store, now: float) -> Rollout | None:
    """At start-up after a crash, before recovery: a rollout the dead agent left in its
    guard window whose previous revision no longer runs (a rolling update replaced it)
    ends succeeded with its target stable, so recovery adopts what serves; restoring the
    previous revision would leave nothing serving until it booted. When the previous
    revision still runs (canary, blue-green keep it warm), this does nothing: the rollout
    is interrupted as any other, and the previous revision, still the stable one, is
    adopted and takes the traffic back. Returns the rollout it ended."""
    active = store.active_rollout()
    if active is None or active.phase is not Phase.GUARDING or active.from_revision is None:
        return None
    if any(r.revision == active.from_revision for r in store.recorded_replicas()):
        return None
    reason = (
        f"the agent restarted in the guard window; revision {active.to_revision} kept, "
        f"since revision {active.from_revision} no longer ran"
    )
    store.finish_rollout(active.id, phase=Phase.SUCCEEDED, reason=reason, now=now)
    return store.rollout(active.id)


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
