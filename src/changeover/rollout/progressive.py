"""What canary and blue-green add to the shared core: waiting for replicas, analysis gates,
and a rollback that moves traffic.

Invariant: a progressive rollout never takes capacity from the stable revision before
all public traffic has moved off it, and rolling back sends traffic to the stable
revision in the same decision as soon as the stable is fully available again (or, if
the rollback gave up at its deadline, to the revision it kept). In a guard window the
stable keeps its full size with no traffic (`guarding_plan`), so a rollback in it is one
traffic switch, as after a failed step.
"""

from __future__ import annotations

from dataclasses import dataclass

from changeover.rollout.core import Core
from changeover.rollout.decision import AnalysisObs, RunState, Traffic
from changeover.rollout.events import AnalysisFailed, DeadlineExceeded
from changeover.rollout.guard import GuardParams
from changeover.rollout.plan import Counts


@dataclass(frozen=True)
class ProgressiveParams:
    replicas: int  # target size once promoted
    stable_replicas: int  # stable size to keep (and restore on rollback)
    min_ready: float
    progress_deadline: float  # seconds of waiting for replicas before the rollout fails
    boot_failure_limit: int = 3
    rollback_deadline: float | None = None  # seconds for the stable to come back (None: progress)
    guard: GuardParams | None = None  # a guard window after the switch, the stable kept warm


class Progressive(Core):
    """A stable -> target rollout that shifts traffic; the stable always exists."""

    stable: int
    params: ProgressiveParams

    def __init__(self, stable: int, target: int, params: ProgressiveParams, now: float) -> None:
        super().__init__(stable, target, params, now, restore=params.stable_replicas)
        self._waiting_since: float | None = None

    def waiting(self, satisfied: bool, now: float) -> DeadlineExceeded | None:
        """Track time spent waiting for replicas; the failure once past the deadline."""
        if satisfied:
            self._waiting_since = None
            return None
        if self._waiting_since is None:
            self._waiting_since = now
        deadline = self.params.progress_deadline
        if now - self._waiting_since > deadline:
            return DeadlineExceeded(
                f"progress deadline exceeded: replicas not available within {deadline:g}s"
                + self.not_ready()
            )
        return None

    def restart_deadline(self, now: float) -> None:
        self._waiting_since = None

    @staticmethod
    def run_failure(run: AnalysisObs | None, what: str) -> AnalysisFailed | None:
        if run is not None and run.state in (RunState.FAILED, RunState.ERROR):
            return AnalysisFailed(f"{what} {run.state.value}: {run.summary}")
        return None

    @staticmethod
    def inconclusive_run(run: AnalysisObs | None) -> bool:
        return run is not None and run.state is RunState.INCONCLUSIVE

    def guarding_plan(self) -> tuple[dict[int, int], Traffic]:
        """The target at full size with all traffic; the stable warm, at its size, idle."""
        scale = {self.stable: self.params.stable_replicas, self.target: self.params.replicas}
        return scale, Traffic(weights={self.stable: 0, self.target: 100})

    def rollback_plan(self, c: Counts) -> tuple[dict[int, int], Traffic]:
        if self.gave_up is not None:  # all traffic to what serves, the other goes to zero
            return dict(self.gave_up.scale), Traffic({self.gave_up.kept: 100})
        scale = self.rollback_scale(c)
        if c.old_avail >= self.restore:
            return scale, Traffic({self.stable: 100})
        # the stable is still coming back: keep ready target replicas serving meanwhile
        return scale, Traffic()
