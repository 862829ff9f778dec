"""The guard window (`[guard]`): once the target serves all traffic, a failure within
`window` rolls back to the previous revision, whatever the strategy.

Invariant: pure; times are passed in. A guard passes only once its window is over and,
when it runs an analysis, that run ended SUCCESSFUL ("no data is never a pass"). A run
that FAILED or ended in ERROR fails the guard at once; an INCONCLUSIVE one holds it, and a
held guard neither passes nor fails by itself: a person decides (`promote` accepts the
target, `abort` rolls back). Alerts and target replicas failing at boot are failures the
shared core (`core`) judges, as in any other phase.

The analysis runs the template's metrics, interval and limits for as many rounds as fit
in the window (`AnalysisRequest.span`), and compares with everything the previous revision
served before (`baseline_history`), since during the window it serves nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from changeover.rollout.decision import (
    AnalysisObs,
    AnalysisRequest,
    GuardState,
    GuardView,
    RunState,
)
from changeover.units import format_duration

KEY = "guard"  # the analysis run's key within the rollout


@dataclass(frozen=True)
class GuardParams:
    window: float  # seconds, > 0
    analysis: str | None = None  # the name of an analysis template of the spec


class Verdict(enum.Enum):
    WAIT = "wait"
    PASS = "pass"
    FAIL = "fail"
    HOLD = "hold"

    def __repr__(self) -> str:
        return f"<Verdict {self.value}>"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str = ""  # FAIL and HOLD: one line, for the rollout's reason and events


class Guard:
    """One guard window, from the moment the target took all traffic."""

    def __init__(self, params: GuardParams, started_at: float, stable: int, target: int) -> None:
        self.params, self.started_at = params, started_at
        self.stable, self.target = stable, target
        self.state = GuardState.WATCHING
        self._why = ""  # why a held guard holds

    @property
    def ends_at(self) -> float:
        return self.started_at + self.params.window

    def judge(self, run: AnalysisObs | None, now: float) -> Judgement:
        """What the window says now, given the guard analysis run as observed."""
        if self.state is GuardState.HELD:
            return Judgement(Verdict.WAIT)
        if run is not None and run.state in (RunState.FAILED, RunState.ERROR):
            return Judgement(Verdict.FAIL, f"{self.what} {run.state.value}: {run.summary}")
        if run is not None and run.state is RunState.INCONCLUSIVE:
            return Judgement(Verdict.HOLD, f"{self.what} inconclusive: {run.summary}")
        if now < self.ends_at:
            return Judgement(Verdict.WAIT)
        if self.params.analysis is None or (run is not None and run.state is RunState.SUCCESSFUL):
            return Judgement(Verdict.PASS)
        return Judgement(Verdict.WAIT)  # the window is over; its last round is still due

    def hold(self, why: str) -> None:
        self.state, self._why = GuardState.HELD, why

    @property
    def what(self) -> str:
        return f"guard analysis {self.params.analysis!r}"

    def requests(self) -> tuple[AnalysisRequest, ...]:
        """The run the guard needs now: its analysis while it watches, nothing else."""
        name = self.params.analysis
        if name is None or self.state is not GuardState.WATCHING:
            return ()
        request = AnalysisRequest(
            KEY, name, self.target, self.stable, span=self.params.window, baseline_history=True
        )
        return (request,)

    def started(self) -> str:
        """The event that opens the window."""
        analysis = "" if self.params.analysis is None else f", analysis {self.params.analysis!r}"
        return (
            f"guard window of {format_duration(self.params.window)} begins{analysis}: revision "
            f"{self.target} serves all traffic; a failure rolls back to revision {self.stable}"
        )

    def passed(self) -> str:
        return (
            f"rollout succeeded: revision {self.target} is stable "
            f"(guard window of {format_duration(self.params.window)} passed)"
        )

    def held(self) -> str:
        return (
            f"guard holds: {self._why}; `promote` accepts revision {self.target}, "
            f"`abort` rolls back to revision {self.stable}"
        )

    def view(self) -> GuardView:
        if self.state is GuardState.HELD:
            message = self.held()
        else:
            what = "alerts and boot failures"
            if self.params.analysis is not None:
                what = f"analysis {self.params.analysis!r}, {what}"
            message = f"watching {what}; a failure rolls back to revision {self.stable}"
        return GuardView(
            self.params.window, self.started_at, self.params.analysis, self.state, message
        )
