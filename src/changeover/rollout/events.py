"""What happens to a rollout, as typed past-tense events (the keys of the phase table).

Invariant: every phase change of a rollout is one of these events looked up in
`phase.EVENT_TRIGGERED_TRANSITIONS` (by its type, as h11 keys on `type(event)`); an
event carries only what its message needs (who, why), never the phase it leads to.
Operator events (`Promoted`, `AbortRequested`, `Paused`, `Resumed`) name the command
verb, so a refusal reads "cannot abort a rollout that is succeeded".

Standard library only: the phase table and the light `rollout` modules import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


class Event:
    """Base of every rollout event."""

    __slots__ = ()


# --- operator commands --------------------------------------------------------------
@dataclass(frozen=True)
class Promoted(Event):
    """`changeover promote` (one step, or `--full`: every remaining step)."""

    by: str = "operator"
    full: bool = False

    @property
    def verb(self) -> str:
        return "promote --full" if self.full else "promote"


@dataclass(frozen=True)
class AbortRequested(Event):
    by: str = "operator"
    verb: ClassVar[str] = "abort"


@dataclass(frozen=True)
class Paused(Event):
    by: str = "operator"
    verb: ClassVar[str] = "pause"


@dataclass(frozen=True)
class Resumed(Event):
    by: str = "operator"
    verb: ClassVar[str] = "resume"


OperatorEvent = Promoted | AbortRequested | Paused | Resumed


# --- what the strategy observes -------------------------------------------------------
@dataclass(frozen=True)
class StepCompleted(Event):
    """A canary step is done (or skipped by a promote); `index` is the next step's."""

    index: int


@dataclass(frozen=True)
class PauseStepReached(Event):
    """A step that waits for `promote`: a canary `pause = {}`, blue-green's manual gate."""


@dataclass(frozen=True)
class AnalysisInconclusive(Event):
    what: str  # "analysis 'slo'", "background analysis", "pre-promotion analysis"


@dataclass(frozen=True)
class AnalysisFailed(Event):
    reason: str


@dataclass(frozen=True)
class DeadlineExceeded(Event):
    reason: str


@dataclass(frozen=True)
class BootFailed(Event):
    reason: str


@dataclass(frozen=True)
class Succeeded(Event):
    """The target serves all traffic at full size and nothing of the stable is live."""


@dataclass(frozen=True)
class GuardStarted(Event):
    """The target serves all traffic at full size and a guard window follows (`guard`)."""


@dataclass(frozen=True)
class GuardPassed(Event):
    """The guard window is over and nothing in it failed: the target is the stable revision."""


@dataclass(frozen=True)
class AlertFired(Event):
    """A firing alert for this service (Alertmanager's webhook): roll back, as a failure.
    `alert` names it (`HighErrorRatio{revision="4"}`); `reason` is the rollout's reason."""

    alert: str
    reason: str


@dataclass(frozen=True)
class RollbackComplete(Event):
    """The stable is restored after a failure (at once when there is no stable)."""


@dataclass(frozen=True)
class AbortComplete(Event):
    """The stable is restored after an operator's abort."""


@dataclass(frozen=True)
class RollbackDeadlineExceeded(Event):
    """The stable did not come back within the rollback deadline: the rollout ends with the
    revision that serves more kept (`rollout.giveup`), whether it failed or was aborted."""

    reason: str


@dataclass(frozen=True)
class Interrupted(Event):
    """The agent stopped mid-rollout (on shutdown, or found on the next start-up)."""

    reason: str = ""


Failure = BootFailed | DeadlineExceeded | AnalysisFailed | AlertFired

ALL: tuple[type[Event], ...] = (
    Promoted,
    AbortRequested,
    Paused,
    Resumed,
    StepCompleted,
    PauseStepReached,
    AnalysisInconclusive,
    AnalysisFailed,
    DeadlineExceeded,
    BootFailed,
    Succeeded,
    GuardStarted,
    GuardPassed,
    AlertFired,
    RollbackComplete,
    AbortComplete,
    RollbackDeadlineExceeded,
    Interrupted,
)
