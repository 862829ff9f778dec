"""Kubernetes-Deployment-like rolling update from a stable revision to a target one.

Invariant: `step` is pure and idempotent. It only reads the observation and `now`,
returns absolute desired counts (never deltas), and reports an event only when a
desired count or the phase changes, so calling it twice with the same observation
yields the same decision and no new events. See `plan` for the scale arithmetic
and the availability/surge guarantees it keeps.

Failure (progress deadline, or a target replica failing at boot `boot_failure_limit`
times) moves to ROLLING_BACK: the stable revision is scaled back to full size while
READY target replicas keep serving; once the stable is fully available the target
goes to zero, and when none of it is live the phase becomes FAILED. A first deploy
(no stable) has nothing to restore and fails straight to FAILED with target 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from changeover.rollout.decision import NO_RUNS, AnalysisObs, Command, CommandRefused, Decision
from changeover.rollout.observe import RevisionObs, revision_obs
from changeover.rollout.phase import Phase, check_transition
from changeover.rollout.plan import Counts, count, plan_progress, plan_rollback


@dataclass(frozen=True)
class RollingParams:
    replicas: int  # desired replica count of the target revision (N >= 1)
    max_surge: int  # resolved count
    max_unavailable: int  # resolved count; max_surge + max_unavailable >= 1
    min_ready: float  # seconds a replica must be READY to count as available
    progress_deadline: float  # seconds without progress before the rollout fails
    boot_failure_limit: int = 3  # boot failures of one target replica that fail the rollout
    stable_replicas: int | None = None  # stable size to restore on rollback (default: replicas)


class RollingUpdate:
    def __init__(
        self, stable: int | None, target: int, params: RollingParams, started_at: float
    ) -> None:
        if stable == target:
            raise ValueError(f"cannot roll revision {target} over itself")
        self.stable, self.target, self.params = stable, target, params
        self._phase = Phase.PROGRESSING
        self._reason = ""
        self._last_progress = started_at
        self._best_new_avail = 0  # high-water mark: flapping replicas are not progress
        self._lowest_old: int | None = None
        self._hold = 0  # cap on target replicas kept while rolling back
        self._scale: dict[int, int] | None = None
        self._pending: list[str] = []  # events of commands, reported by the next step
        self._aborted = False

    @property
    def phase(self) -> Phase:
        return self._phase

    def command(self, command: Command, now: float, by: str = "operator") -> str:
        """Abort, pause or resume; promote does not apply to a rolling update."""
        phase = self._phase
        if command is Command.ABORT and phase in (Phase.PROGRESSING, Phase.PAUSED):
            if self.stable is None:
                raise CommandRefused("the first rollout has no stable revision to go back to")
            self._aborted, self._reason, self._hold = True, f"aborted by {by}", 0
            self._move(Phase.ROLLING_BACK, self._pending, f"rollout aborted by {by}")
            self._pending.append(f"rolling back to revision {self.stable}")
        elif command is Command.PAUSE and phase is Phase.PROGRESSING:
            self._move(Phase.PAUSED, self._pending, f"rollout paused by {by}")
        elif command is Command.RESUME and phase is Phase.PAUSED:
            self._last_progress = now  # time spent paused is not lack of progress
            self._move(Phase.PROGRESSING, self._pending, f"rollout resumed by {by}")
        elif command in (Command.PROMOTE, Command.PROMOTE_FULL):
            raise CommandRefused("a rolling update has no steps to promote; use resume or abort")
        else:
            raise CommandRefused(f"cannot {command.value} a rollout that is {phase.value}")
        return self._pending[-1]

    def step(
        self, obs: Mapping[int, RevisionObs], now: float, runs: Mapping[str, AnalysisObs] = NO_RUNS
    ) -> Decision:
        p = self.params
        c = count(obs, self.stable, self.target, now, p.min_ready)
        events, self._pending = self._pending, []
        if self._phase is Phase.PROGRESSING:
            self._note_availability(c, now)
            reason = self._failure(revision_obs(obs, self.target), now)
            if reason:
                self._fail(reason, c, events)
            elif c.new_avail >= p.replicas and c.old_live == 0:
                self._move(
                    Phase.SUCCEEDED, events, f"rollout succeeded: revision {self.target} is stable"
                )
        if self._phase is Phase.ROLLING_BACK and c.old_avail >= self._restore and not c.new_live:
            end = Phase.ABORTED if self._aborted else Phase.FAILED
            self._move(end, events, f"rollback complete: revision {self.stable} restored")
        scale = self._desired(c)
        events.extend(self._scale_events(scale, c))
        self._note_scale_down(scale, c, now)
        return Decision(self._phase, scale, tuple(events), self._reason)

    @property
    def _restore(self) -> int:
        restore = self.params.stable_replicas
        return self.params.replicas if restore is None else restore

    def _note_availability(self, c: Counts, now: float) -> None:
        if c.new_avail > self._best_new_avail:
            self._best_new_avail, self._last_progress = c.new_avail, now

    def _failure(self, target: RevisionObs, now: float) -> str:
        limit = self.params.boot_failure_limit
        for r in target.replicas:
            if r.boot_failures >= limit:
                why = f": {r.last_error}" if r.last_error else ""
                return f"replica {r.id} failed at boot {r.boot_failures} times{why}"
        deadline = self.params.progress_deadline
        if now - self._last_progress > deadline:
            return f"progress deadline exceeded: no progress for {deadline:g}s"
        return ""

    def _fail(self, reason: str, c: Counts, events: list[str]) -> None:
        self._reason, self._hold = reason, c.new_ready
        if self.stable is None:
            self._move(Phase.FAILED, events, f"rollout failed: {reason}")
            return
        self._move(Phase.ROLLING_BACK, events, f"rollout failed: {reason}")
        events.append(f"rolling back to revision {self.stable}")

    def _move(self, new: Phase, events: list[str], message: str) -> None:
        self._phase = check_transition(self._phase, new)
        events.append(message)

    def _desired(self, c: Counts) -> dict[int, int]:
        p, phase = self.params, self._phase
        if self.stable is None:
            return {self.target: 0 if phase is Phase.FAILED else p.replicas}
        if phase is Phase.ROLLING_BACK:
            self._hold = min(self._hold, c.new_ready)
            old, new = plan_rollback(c, self._restore, self._hold)
        elif phase in (Phase.FAILED, Phase.ABORTED):
            old, new = self._restore, 0
        elif phase is Phase.PAUSED and self._scale is not None:
            return dict(self._scale)
        elif phase is Phase.SUCCEEDED:
            old, new = 0, p.replicas
        else:
            old, new = plan_progress(c, p.replicas, p.max_surge, p.max_unavailable)
        return {self.stable: old, self.target: new}

    def _scale_events(self, scale: dict[int, int], c: Counts) -> list[str]:
        observed = {self.target: c.new_live}
        if self.stable is not None:
            observed[self.stable] = c.old_live
        previous = self._scale or observed  # first step: compare with what runs now
        self._scale = dict(scale)  # the caller may mutate the decision it got
        return [
            f"scaled revision {rev} {'up' if want > previous[rev] else 'down'} to {want}"
            for rev, want in scale.items()
            if want != previous[rev]
        ]

    def _note_scale_down(self, scale: dict[int, int], c: Counts, now: float) -> None:
        if self.stable is None or self._phase is not Phase.PROGRESSING:
            return
        lowest = c.old_live if self._lowest_old is None else self._lowest_old
        self._lowest_old = min(lowest, scale[self.stable])
        if scale[self.stable] < lowest:
            self._last_progress = now  # a stable replica was scaled down: progress
