"""What canary and blue-green share: counts, failure checks, pauses, rollback and scale events.

Invariant: a progressive rollout never takes capacity from the stable revision before
all public traffic has moved off it, and rolling back sends traffic to the stable
revision in the same decision as soon as the stable is fully available again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from changeover.rollout.decision import AnalysisObs, Command, CommandRefused, RunState, Traffic
from changeover.rollout.observe import RevisionObs, revision_obs
from changeover.rollout.phase import Phase, check_transition
from changeover.rollout.plan import Counts, count


@dataclass(frozen=True)
class ProgressiveParams:
    replicas: int  # target size once promoted
    stable_replicas: int  # stable size to keep (and restore on rollback)
    min_ready: float
    progress_deadline: float  # seconds of waiting for replicas before the rollout fails
    boot_failure_limit: int = 3


class Progressive:
    """Phase, pauses, failure and rollback bookkeeping of one stable -> target rollout."""

    def __init__(self, stable: int, target: int, params: ProgressiveParams, now: float) -> None:
        if stable == target:
            raise ValueError(f"cannot roll revision {target} over itself")
        self.stable, self.target, self.params = stable, target, params
        self._phase = Phase.PROGRESSING
        self.reason = ""
        self.paused_by = ""  # "operator", "step", "analysis" while PAUSED
        self.paused_at = now
        self.aborted = False
        self.pending: list[str] = []  # events of commands, reported by the next step
        self._waiting_since: float | None = None
        self._hold = 0
        self._scale: dict[int, int] | None = None

    @property
    def phase(self) -> Phase:
        return self._phase

    def move(self, new: Phase, message: str) -> None:
        self._phase = check_transition(self._phase, new)
        self.pending.append(message)

    def counts(self, obs: Mapping[int, RevisionObs], now: float) -> Counts:
        return count(obs, self.stable, self.target, now, self.params.min_ready)

    # --- failure --------------------------------------------------------------------
    def boot_failure(self, obs: Mapping[int, RevisionObs]) -> str:
        limit = self.params.boot_failure_limit
        for r in revision_obs(obs, self.target).replicas:
            if r.boot_failures >= limit:
                why = f": {r.last_error}" if r.last_error else ""
                return f"replica {r.id} failed at boot {r.boot_failures} times{why}"
        return ""

    def waiting(self, satisfied: bool, now: float) -> str:
        """Track time spent waiting for replicas; the failure reason once past the deadline."""
        if satisfied:
            self._waiting_since = None
            return ""
        if self._waiting_since is None:
            self._waiting_since = now
        deadline = self.params.progress_deadline
        if now - self._waiting_since > deadline:
            return f"progress deadline exceeded: replicas not available within {deadline:g}s"
        return ""

    def fail(self, reason: str, c: Counts) -> None:
        self.reason, self._hold = reason, c.new_ready
        self.move(Phase.ROLLING_BACK, f"rollout failed: {reason}")
        self.pending.append(f"rolling back to revision {self.stable}")

    def run_failure(self, run: AnalysisObs | None, what: str) -> str:
        if run is not None and run.state in (RunState.FAILED, RunState.ERROR):
            return f"{what} {run.state.value}: {run.summary}"
        return ""

    # --- commands -------------------------------------------------------------------
    def abort(self, by: str = "operator") -> str:
        if self._phase not in (Phase.PROGRESSING, Phase.PAUSED):
            raise CommandRefused(f"cannot abort a rollout that is {self._phase.value}")
        self.aborted, self.reason, self._hold = True, f"aborted by {by}", 0
        self.move(Phase.ROLLING_BACK, f"rollout aborted by {by}: traffic back to stable")
        self.pending.append(f"rolling back to revision {self.stable}")
        return self.pending[-2]

    def pause(self, by: str, now: float, message: str) -> None:
        self.paused_by, self.paused_at = by, now
        self.move(Phase.PAUSED, message)

    def unpause(self, message: str) -> None:
        self.paused_by = ""
        self._waiting_since = None  # a pause is not lack of progress
        self.move(Phase.PROGRESSING, message)

    def refuse(self, command: Command) -> CommandRefused:
        return CommandRefused(f"cannot {command.value} a rollout that is {self._phase.value}")

    # --- rollback -------------------------------------------------------------------
    def rollback_step(self, c: Counts) -> None:
        restore = self.params.stable_replicas
        if self._phase is Phase.ROLLING_BACK and c.old_avail >= restore and not c.new_live:
            end = Phase.ABORTED if self.aborted else Phase.FAILED
            self.move(end, f"rollback complete: revision {self.stable} restored")

    def rollback_plan(self, c: Counts) -> tuple[dict[int, int], Traffic]:
        restore = self.params.stable_replicas
        self._hold = min(self._hold, c.new_ready)
        if c.old_avail >= restore:
            return {self.stable: restore, self.target: 0}, Traffic({self.stable: 100})
        # the stable is still coming back: keep ready target replicas serving meanwhile
        return {self.stable: restore, self.target: self._hold}, Traffic()

    def scale_events(self, scale: dict[int, int], c: Counts) -> list[str]:
        previous = self._scale or {self.stable: c.old_live, self.target: c.new_live}
        self._scale = dict(scale)
        return [
            f"scaled revision {rev} {'up' if want > previous.get(rev, 0) else 'down'} to {want}"
            for rev, want in scale.items()
            if want != previous.get(rev, 0)
        ]
