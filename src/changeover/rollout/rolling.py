"""Kubernetes-Deployment-like rolling update from a stable revision to a target one.

Invariant: `step` is pure and idempotent. It only reads the observation and `now`,
returns absolute desired counts (never deltas), and reports an event only when a
desired count or the phase changes, so calling it twice with the same observation
yields the same decision and no new events. See `plan` for the scale arithmetic
and the availability/surge guarantees it keeps.

Failure (no progress for `progress_deadline`, or a target replica failing at boot
`boot_failure_limit` times) moves to ROLLING_BACK: the stable revision is scaled back to
full size while READY target replicas keep serving; once the stable is fully available
the target goes to zero, and when none of it is live the phase becomes FAILED. If the
stable is still short after `rollback_deadline`, the rollout ends FAILED anyway with the
revision that serves more kept (`giveup`). A first deploy (no stable) has nothing to
restore and fails straight to FAILED with target 0.
With a guard window (`params.guard`), success opens it with the stable already at zero:
a rolling update is chosen not to hold two revisions' replicas at once, so a rollback in
the window costs the stable's boot, the target's ready replicas serving meanwhile.
Progress is a new high-water mark of available target replicas, or a stable scale-down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from changeover.rollout.core import Core
from changeover.rollout.decision import NO_RUNS, AnalysisObs, CommandRefused, Decision
from changeover.rollout.events import (
    AbortRequested,
    DeadlineExceeded,
    OperatorEvent,
    Paused,
    Promoted,
    Resumed,
)
from changeover.rollout.guard import GuardParams
from changeover.rollout.observe import RevisionObs
from changeover.rollout.phase import Phase
from changeover.rollout.plan import Counts, plan_progress

NO_STEPS = "a rolling update has no steps to promote; use resume or abort"
NO_STABLE = "the first rollout has no stable revision to go back to"


@dataclass(frozen=True)
class RollingParams:
    replicas: int  # desired replica count of the target revision (N >= 1)
    max_surge: int  # resolved count
    max_unavailable: int  # resolved count; max_surge + max_unavailable >= 1
    min_ready: float  # seconds a replica must be READY to count as available
    progress_deadline: float  # seconds without progress before the rollout fails
    boot_failure_limit: int = 3  # boot failures of one target replica that fail the rollout
    stable_replicas: int | None = None  # stable size to restore on rollback (default: replicas)
    rollback_deadline: float | None = None  # seconds for the stable to come back (None: progress)
    guard: GuardParams | None = None  # a guard window after success (the stable is not kept)


class RollingUpdate(Core):
    params: RollingParams

    def __init__(
        self, stable: int | None, target: int, params: RollingParams, started_at: float
    ) -> None:
        restore = params.replicas if params.stable_replicas is None else params.stable_replicas
        super().__init__(stable, target, params, started_at, restore=restore)
        self._last_progress = started_at
        self._best_new_avail = 0  # high-water mark: flapping replicas are not progress
        self._lowest_old: int | None = None

    # --- commands -------------------------------------------------------------------
    def command(self, event: OperatorEvent, now: float) -> str:
        if isinstance(event, Promoted) and self.phase is not Phase.GUARDING:
            raise CommandRefused(NO_STEPS)  # nothing to promote but a guard window
        return super().command(event, now)

    def handle(self, event: OperatorEvent, now: float) -> str:
        if isinstance(event, AbortRequested):
            if self.stable is None:
                raise CommandRefused(NO_STABLE)
            self.abort(event, f"rollout aborted by {event.by}")
        elif isinstance(event, Paused):
            self.operator_pause(event, now)
        elif isinstance(event, Resumed):
            self.resume(event, now, f"rollout resumed by {event.by}")
        return self.pending[-1]

    def restart_deadline(self, now: float) -> None:
        self._last_progress = now

    # --- stepping -------------------------------------------------------------------
    def step(
        self, obs: Mapping[int, RevisionObs], now: float, runs: Mapping[str, AnalysisObs] = NO_RUNS
    ) -> Decision:
        c = self.counts(obs, now)
        self.watch(obs, c, now, runs)
        if self.phase is Phase.PROGRESSING:
            self._note_availability(c, now)
            failure = self.boot_failure(obs) or self._deadline(now)
            if failure is not None:
                self.fail(failure, c)
            elif c.new_avail >= self.params.replicas and c.old_live == 0:
                self.complete(now)
        self.rollback_step(c, now)
        scale = self._desired(c)
        decision = self.decide(obs, c, scale)
        self._note_scale_down(scale, c, now)
        return decision

    def _note_availability(self, c: Counts, now: float) -> None:
        if c.new_avail > self._best_new_avail:
            self._best_new_avail, self._last_progress = c.new_avail, now

    def _deadline(self, now: float) -> DeadlineExceeded | None:
        deadline = self.params.progress_deadline
        if now - self._last_progress > deadline:
            why = f"no progress for {deadline:g}s{self.not_ready()}"
            return DeadlineExceeded(f"progress deadline exceeded: {why}")
        return None

    def _desired(self, c: Counts) -> dict[int, int]:
        p, phase = self.params, self.phase
        if self.stable is None:
            return {self.target: 0 if phase is Phase.FAILED else p.replicas}
        if phase is Phase.ROLLING_BACK:
            return self.rollback_scale(c)
        if self.gave_up is not None:
            return dict(self.gave_up.scale)
        if phase in (Phase.FAILED, Phase.ABORTED):
            old, new = self.restore, 0
        elif phase is Phase.PAUSED and self.last_scale is not None:
            return dict(self.last_scale)
        elif phase in (Phase.SUCCEEDED, Phase.GUARDING):
            old, new = 0, p.replicas
        else:
            old, new = plan_progress(c, p.replicas, p.max_surge, p.max_unavailable)
        return {self.stable: old, self.target: new}

    def _note_scale_down(self, scale: dict[int, int], c: Counts, now: float) -> None:
        if self.stable is None or self.phase is not Phase.PROGRESSING:
            return
        lowest = c.old_live if self._lowest_old is None else self._lowest_old
        self._lowest_old = min(lowest, scale[self.stable])
        if scale[self.stable] < lowest:
            self._last_progress = now  # a stable replica was scaled down: progress
