"""Rollout phases and the one table that moves a rollout between them.

Invariant: a rollout's phase changes only through
`EVENT_TRIGGERED_TRANSITIONS.transition(phase, type(event))`: the table is the program,
not a check of a move decided elsewhere. Terminal phases (succeeded, failed, aborted,
interrupted) accept no event, so a finished rollout can never be resumed by accident,
and an operator command whose event the phase does not accept is refused with a
message derived from the table (`refusal`). Canary and blue-green add steps inside
PROGRESSING, not new phases, so all three strategies share this table. GUARDING is the
window after the target took all traffic (`[guard]`, any strategy): it ends in SUCCEEDED
when the window passes (or an operator promotes), or rolls back like a failure.
"""

from __future__ import annotations

import enum

from changeover.machine import Table
from changeover.rollout.events import (
    AbortComplete,
    AbortRequested,
    AlertFired,
    AnalysisFailed,
    AnalysisInconclusive,
    BootFailed,
    DeadlineExceeded,
    Event,
    GuardPassed,
    GuardStarted,
    Interrupted,
    OperatorEvent,
    Paused,
    PauseStepReached,
    Promoted,
    Resumed,
    RollbackComplete,
    RollbackDeadlineExceeded,
    StepCompleted,
    Succeeded,
)


class Phase(enum.Enum):
    PROGRESSING = "progressing"  # moving traffic/replicas towards the target
    PAUSED = "paused"  # waiting for an operator (promote, resume or abort)
    GUARDING = "guarding"  # the target serves all traffic; a failure in the window rolls back
    ROLLING_BACK = "rolling-back"  # target failed or aborted; restoring the stable revision
    SUCCEEDED = "succeeded"  # target fully available, stable scaled to zero
    FAILED = "failed"  # target failed and the stable is restored, or the rollback gave up
    ABORTED = "aborted"  # stopped by an operator and the stable revision is restored
    INTERRUPTED = "interrupted"  # the agent died mid-rollout; set on restart

    def __repr__(self) -> str:
        return f"<Phase {self.value}>"

    @property
    def terminal(self) -> bool:
        return EVENT_TRIGGERED_TRANSITIONS.terminal(self)

    @property
    def active(self) -> bool:
        return not self.terminal

    def can_become(self, other: Phase) -> bool:
        """Whether some sequence of events leads from this phase to a different `other`."""
        return other is not self and other in _REACHABLE[self]


_P = Phase

# Keyed on event classes, as h11 keys on `type(event)`.
EventKey = type[Event]
_MOVES: dict[Phase, dict[EventKey, Phase]] = {
    _P.PROGRESSING: {
        StepCompleted: _P.PROGRESSING,
        Promoted: _P.PROGRESSING,  # skip a step, or request the switch
        Paused: _P.PAUSED,
        PauseStepReached: _P.PAUSED,
        AnalysisInconclusive: _P.PAUSED,
        DeadlineExceeded: _P.ROLLING_BACK,
        BootFailed: _P.ROLLING_BACK,
        AnalysisFailed: _P.ROLLING_BACK,
        AbortRequested: _P.ROLLING_BACK,
        AlertFired: _P.ROLLING_BACK,
        Succeeded: _P.SUCCEEDED,
        GuardStarted: _P.GUARDING,
        Interrupted: _P.INTERRUPTED,
    },
    _P.PAUSED: {
        Resumed: _P.PROGRESSING,
        Promoted: _P.PROGRESSING,
        # a background analysis may turn inconclusive during any pause: promote accepts it
        AnalysisInconclusive: _P.PAUSED,
        BootFailed: _P.ROLLING_BACK,
        AnalysisFailed: _P.ROLLING_BACK,
        AbortRequested: _P.ROLLING_BACK,
        AlertFired: _P.ROLLING_BACK,
        Interrupted: _P.INTERRUPTED,
        # no DeadlineExceeded: time spent paused is not lack of progress
    },
    _P.GUARDING: {
        GuardPassed: _P.SUCCEEDED,
        Promoted: _P.SUCCEEDED,  # an operator accepts the target before the window ends
        # the analysis could not tell: the guard holds until promote or abort
        AnalysisInconclusive: _P.GUARDING,
        AnalysisFailed: _P.ROLLING_BACK,
        AlertFired: _P.ROLLING_BACK,
        BootFailed: _P.ROLLING_BACK,
        AbortRequested: _P.ROLLING_BACK,
        Interrupted: _P.INTERRUPTED,
        # no Paused: traffic is already on the target; no DeadlineExceeded: nothing waits
    },
    _P.ROLLING_BACK: {
        RollbackComplete: _P.FAILED,
        AbortComplete: _P.ABORTED,
        # the stable did not come back in time: failed, an aborted rollout too, since
        # what the operator asked for (the stable back) did not happen
        RollbackDeadlineExceeded: _P.FAILED,
        Interrupted: _P.INTERRUPTED,
    },
    _P.SUCCEEDED: {},
    _P.FAILED: {},
    _P.ABORTED: {},
    _P.INTERRUPTED: {},
}
EVENT_TRIGGERED_TRANSITIONS: Table[Phase, EventKey] = Table("rollout", Phase, _MOVES)


def refusal(phase: Phase, event: OperatorEvent) -> str:
    """Why `phase` refuses an operator's command, in the words users see."""
    return f"cannot {event.verb} a rollout that is {phase.value}"


def _reachable(start: Phase) -> frozenset[Phase]:
    seen: set[Phase] = set()
    todo = [start]
    while todo:
        for target in EVENT_TRIGGERED_TRANSITIONS.targets(todo.pop()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return frozenset(seen)


_REACHABLE = {phase: _reachable(phase) for phase in Phase}
