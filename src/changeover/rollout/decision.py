"""What a strategy returns and what it is told: decisions, traffic, analysis, commands.

Invariant: a `Decision` is absolute desired state (replica counts per revision, the whole
traffic policy, the set of analysis runs that should be running), never a delta, so the
controller can apply the same decision twice with no effect the second time. The
replicas it names for removal (`remove`) are chosen by `observe.removal_order` from the
observation the decision was made on; the supervisor stops exactly those, and skips
those already stopping, so a second application stops nothing more. A PAUSED decision
carries a `Hold` (who paused it, what continues it); no other decision does.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from changeover.analysis.model import RunStatus
from changeover.rollout.events import AbortRequested, OperatorEvent, Paused, Promoted, Resumed
from changeover.rollout.phase import Phase
from changeover.rollout.steps import HeaderRoute


@dataclass(frozen=True)
class Traffic:
    """The proxy's routing for one tick. Default: every routable replica shares traffic."""

    weights: Mapping[int, int] | None = None  # percent per revision; None: by replica
    header_route: HeaderRoute | None = None  # matching requests go to `header_revision`
    header_revision: int | None = None
    sticky: str | None = None  # "cookie:NAME" or "header:NAME"
    preview: int | None = None  # the revision the preview listener serves


@dataclass(frozen=True)
class AnalysisRequest:
    """An analysis run that should be running now; `key` is unique within a rollout."""

    key: str  # "step-2", "background", "pre-promotion", "post-promotion", "guard"
    template: str
    canary: int
    baseline: int | None
    # run the template's rounds for this many seconds instead of its `count` (the guard)
    span: float | None = None
    # compare with all the baseline served so far, not with the same interval: in a guard
    # window the previous revision serves nothing
    baseline_history: bool = False


# an analysis run's state, as the analysis package defines it (one enum, one table)
RunState = RunStatus


@dataclass(frozen=True)
class AnalysisObs:
    """What the strategy sees of one requested run."""

    state: RunState
    summary: str = ""


class Notice(enum.Enum):
    """Notification kinds beyond phase changes, set where the thing happens."""

    STEP = "step"  # a canary step began, was skipped, or waits for promote
    PROMOTED = "promoted"  # all public traffic moved to the target
    GUARDING = "guarding"  # the guard window began
    GUARD_HELD = "paused"  # the guard waits for a person (promote or abort): as a pause

    def __repr__(self) -> str:
        return f"<Notice {self.value}>"


class PausedBy(enum.Enum):
    """Who holds a PAUSED rollout, which decides what `resume` and `promote` do."""

    OPERATOR = "operator"  # `changeover pause`: resume continues
    STEP = "step"  # a step waiting for promote: resume or promote continues
    ANALYSIS = "analysis"  # an inconclusive analysis: only promote accepts it

    def __repr__(self) -> str:
        return f"<PausedBy {self.value}>"


@dataclass(frozen=True)
class Hold:
    """Why a PAUSED rollout waits, for people and tools: who holds it and what it waits at.

    `message` names the thing itself ("step 3/4: pause until promote", "analysis 'slo'
    inconclusive", "paused by alice"), never the advice, which `proceed` gives as commands.
    """

    by: PausedBy
    message: str

    @property
    def proceed(self) -> tuple[Command, ...]:
        """The commands that continue the rollout as intended, the one to suggest first;
        `abort` rolls back from any pause and is not listed."""
        return PROCEED[self.by]


class GuardState(enum.Enum):
    WATCHING = "watching"  # the window runs; a failure in it rolls back
    HELD = "held"  # the guard analysis was inconclusive: promote accepts, abort rolls back

    def __repr__(self) -> str:
        return f"<GuardState {self.value}>"


@dataclass(frozen=True)
class GuardView:
    """The guard window as `status` shows it (set exactly when the phase is GUARDING)."""

    window: float  # seconds
    started_at: float  # the strategy's clock (monotonic) when the target took all traffic
    analysis: str | None  # the template run over the window, if any
    state: GuardState
    message: str  # one line: what the guard watches, or why it holds

    @property
    def ends_at(self) -> float:
        return self.started_at + self.window


@dataclass(frozen=True)
class Decision:
    phase: Phase
    scale: dict[int, int]  # desired live replicas per revision (draining ones never counted)
    events: tuple[str, ...]  # what changed since the previous step, human-readable
    reason: str = ""  # why the rollout failed, one line (ROLLING_BACK and FAILED)
    traffic: Traffic = field(default_factory=Traffic)
    analyses: tuple[AnalysisRequest, ...] = ()
    step: int | None = None  # index of the current canary step; len(steps) when promoting
    notices: tuple[Notice, ...] = ()  # notification kinds beyond phase changes, each once
    linger: Mapping[int, float] = field(default_factory=dict)  # revision -> scale down at
    # revision -> live replicas to stop to reach `scale`, in `observe.removal_order`
    remove: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    # a rollback that gave up at its deadline: the revision left serving, stable from then on
    kept: int | None = None
    hold: Hold | None = None  # set exactly when `phase` is PAUSED
    guard: GuardView | None = None  # set exactly when `phase` is GUARDING


class Command(enum.Enum):
    PROMOTE = "promote"
    PROMOTE_FULL = "promote --full"
    ABORT = "abort"
    PAUSE = "pause"
    RESUME = "resume"

    def __repr__(self) -> str:
        return f"<Command {self.value}>"

    def event(self, by: str = "operator") -> OperatorEvent:
        """The event this command sends the rollout, naming who sent it."""
        if self is Command.ABORT:
            return AbortRequested(by)
        if self is Command.PAUSE:
            return Paused(by)
        if self is Command.RESUME:
            return Resumed(by)
        return Promoted(by, full=self is Command.PROMOTE_FULL)


class CommandRefused(Exception):
    """The command does not apply to the rollout in its current state; says why."""


PROCEED: Mapping[PausedBy, tuple[Command, ...]] = {
    PausedBy.OPERATOR: (Command.RESUME,),
    PausedBy.STEP: (Command.PROMOTE,),  # `resume` works too; `promote` is what the docs say
    PausedBy.ANALYSIS: (Command.PROMOTE,),  # `resume` is refused: someone must accept it
}

NO_RUNS: Mapping[str, AnalysisObs] = {}
