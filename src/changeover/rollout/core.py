"""What every strategy shares: the phase, operator commands, failure, pauses, rollback, and
the events, notices and removals of each decision.

Invariant: the phase changes only in `Core.apply`, which asks the phase table; the rest
of this class (and of each strategy) only produces events. A PAUSED rollout has the
`Hold` its latest pause set (only `pause` enters PAUSED) and no other phase has one, so
every paused decision says who holds it and what continues it. Messages of commands and of
moves wait in `pending` and are reported, in order, by the next decision. Rolling back
keeps at most the READY target replicas there were when it began, and only until the
stable revision is fully available again, so traffic always has somewhere to go. A
rollback ends: once the stable is back, or when it is still short of its size after
the rollback deadline (counted from the first decision made while rolling back); then
the rollout ends FAILED with what `giveup` keeps, never zeroing the only revision that
serves. A failure's reason names the target replica it is about and that replica's last
error (a process's exit, a probe failure with its count) when one is known.

With a guard (`guard`), a strategy that would succeed opens a GUARDING window instead
(`complete`), and `watch` judges it at every step, with the alerts an operator's
Alertmanager sent (`alert`): an accepted alert fails the rollout at the next step,
which rolls back as any failure does. An alert or a guard needs a stable revision to
go back to; the first rollout has none and is never guarded.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Protocol

from changeover.rollout.decision import (
    AnalysisObs,
    AnalysisRequest,
    CommandRefused,
    Decision,
    Hold,
    Notice,
    PausedBy,
    Traffic,
)
from changeover.rollout.events import (
    AbortComplete,
    AbortRequested,
    AlertFired,
    AnalysisFailed,
    AnalysisInconclusive,
    BootFailed,
    Event,
    Failure,
    GuardPassed,
    GuardStarted,
    OperatorEvent,
    Paused,
    PauseStepReached,
    Promoted,
    Resumed,
    RollbackComplete,
    RollbackDeadlineExceeded,
    Succeeded,
)
from changeover.rollout.giveup import GiveUp, give_up
from changeover.rollout.guard import KEY, Guard, GuardParams, Verdict
from changeover.rollout.observe import ReplicaObs, RevisionObs, removals, revision_obs
from changeover.rollout.phase import EVENT_TRIGGERED_TRANSITIONS, Phase, refusal
from changeover.rollout.plan import Counts, count, plan_rollback
from changeover.supervisor.state import ReplicaState

TABLE = EVENT_TRIGGERED_TRANSITIONS
INCONCLUSIVE = "the analysis was inconclusive: `promote` accepts it, `abort` rolls back"


PAUSED_BY: Mapping[type[Event], PausedBy] = {
    Paused: PausedBy.OPERATOR,
    PauseStepReached: PausedBy.STEP,
    AnalysisInconclusive: PausedBy.ANALYSIS,
}


class Sizing(Protocol):
    """The parameters every strategy has."""

    @property
    def replicas(self) -> int: ...
    @property
    def min_ready(self) -> float: ...
    @property
    def progress_deadline(self) -> float: ...
    @property
    def rollback_deadline(self) -> float | None: ...  # None: progress_deadline
    @property
    def boot_failure_limit(self) -> int: ...
    @property
    def guard(self) -> GuardParams | None: ...  # None: succeed without a guard window


class Core(abc.ABC):
    """Phase, pauses, failure and rollback bookkeeping of one stable -> target rollout."""

    def __init__(
        self, stable: int | None, target: int, params: Sizing, now: float, *, restore: int
    ) -> None:
        if stable == target:
            raise ValueError(f"cannot roll revision {target} over itself")
        self.stable, self.target, self.params = stable, target, params
        self.restore = restore  # stable replicas a rollback brings back
        self._phase = Phase.PROGRESSING
        self.reason = ""  # why it failed or who aborted it
        self.hold: Hold | None = None  # set while PAUSED: who holds it, what it waits at
        self.paused_at = now
        self.aborted = False  # the rollback ends ABORTED, not FAILED
        self.pending: list[str] = []  # messages for the next decision
        self._notices: set[Notice] = set()
        self._hold = 0  # cap on target replicas kept while rolling back
        self._rollback_since: float | None = None
        self.gave_up: GiveUp | None = None  # set when the rollback deadline ended it
        self.last_scale: dict[int, int] | None = None
        self.observed: Mapping[int, RevisionObs] = {}  # by the current step (`counts`)
        self.guard: Guard | None = None  # set when the guard window opens
        self._alert: AlertFired | None = None  # accepted, carried out by the next step

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def paused_by(self) -> PausedBy | None:
        return None if self.hold is None else self.hold.by

    def apply(self, event: Event, *messages: str, notice: Notice | None = None) -> None:
        """Move to the phase the table gives for `event`; report `messages` next."""
        self._phase = TABLE.transition(self._phase, type(event))
        if self._phase is not Phase.PAUSED:
            self.hold = None  # only `pause` sets it, so a pause never lacks its reason
        self.pending.extend(messages)
        if notice is not None:
            self._notices.add(notice)

    def say(self, message: str, notice: Notice | None = None) -> None:
        """Report `message` (and `notice`) in the next decision; the phase stays."""
        self.pending.append(message)
        if notice is not None:
            self._notices.add(notice)

    def counts(self, obs: Mapping[int, RevisionObs], now: float) -> Counts:
        """What `step` counts first; `obs` is kept for the reasons of this step's failures."""
        self.observed = obs
        return count(obs, self.stable, self.target, now, self.params.min_ready)

    # --- operator commands ---------------------------------------------------------------
    def command(self, event: OperatorEvent, now: float) -> str:
        """Carry out an operator's command, or raise CommandRefused saying why not."""
        if not TABLE.can(self._phase, type(event)):
            raise CommandRefused(refusal(self._phase, event))
        if isinstance(event, Resumed) and self.paused_by is PausedBy.ANALYSIS:
            raise CommandRefused(INCONCLUSIVE)
        if self._phase is Phase.GUARDING:
            return self._guard_command(event)
        return self.handle(event, now)

    def _guard_command(self, event: OperatorEvent) -> str:
        """`promote` accepts the target now; `abort` rolls back, keeping the target's ready
        replicas until the previous revision is back (a rolling update stopped it)."""
        if isinstance(event, AbortRequested):
            message = self.abort(event, f"rollout aborted by {event.by} in the guard window")
            self._hold = self.params.replicas
            return message
        message = f"guard window ended by {event.by} (promote): revision {self.target} is stable"
        self.apply(event, message)
        return message

    # --- alerts and the guard window -----------------------------------------------------
    def alert(self, event: AlertFired) -> str:
        """Accept a firing alert (the next step fails the rollout), or refuse saying why."""
        if not TABLE.can(self._phase, AlertFired):
            raise CommandRefused(f"the rollout is {self._phase.value}: nothing to roll back")
        if self.stable is None:
            raise CommandRefused("the first rollout has no stable revision to go back to")
        if self._alert is not None:
            raise CommandRefused(f"already rolling back on alert {self._alert.alert}")
        self._alert = event
        return f"rolling back to revision {self.stable}"

    @property
    def guarded(self) -> bool:
        """Whether success opens a guard window (there is a revision to go back to)."""
        return self.params.guard is not None and self.stable is not None

    def complete(self, now: float, message: str = "") -> None:
        """The target serves all traffic at full size: succeed, or open the guard window."""
        guard = self.params.guard
        if guard is None or self.stable is None:
            done = message or f"rollout succeeded: revision {self.target} is stable"
            self.apply(Succeeded(), done)
            return
        self.guard = Guard(guard, now, self.stable, self.target)
        self.apply(GuardStarted(), self.guard.started(), notice=Notice.GUARDING)

    def watch(
        self, obs: Mapping[int, RevisionObs], c: Counts, now: float, runs: Mapping[str, AnalysisObs]
    ) -> None:
        """What every strategy judges alike at each step: an accepted alert, the guard."""
        alert, self._alert = self._alert, None
        if alert is not None and TABLE.can(self._phase, AlertFired):
            self.fail(alert, c)
        if self._phase is not Phase.GUARDING:
            return
        guard = self.guard
        assert guard is not None, "GUARDING is entered only by `complete`"
        failure = self.boot_failure(obs)
        if failure is not None:
            self.fail(failure, c)
            return
        judged = guard.judge(runs.get(KEY), now)
        if judged.verdict is Verdict.FAIL:
            self.fail(AnalysisFailed(judged.reason), c)
        elif judged.verdict is Verdict.HOLD:
            guard.hold(judged.reason)
            self.apply(AnalysisInconclusive(guard.what), guard.held(), notice=Notice.GUARD_HELD)
        elif judged.verdict is Verdict.PASS:
            self.apply(GuardPassed(), guard.passed())

    @abc.abstractmethod
    def handle(self, event: OperatorEvent, now: float) -> str:
        """A command the phase accepts; returns the reply (the strategy's part)."""

    def abort(self, event: AbortRequested, message: str) -> str:
        self.aborted, self.reason, self._hold = True, f"aborted by {event.by}", 0
        self.apply(event, message, f"rolling back to revision {self.stable}")
        return message

    def pause(
        self,
        event: Paused | PauseStepReached | AnalysisInconclusive,
        now: float,
        message: str,
        notice: Notice | None = None,
        *,
        why: str,
    ) -> None:
        """Pause (again) for `why`: what the rollout waits at, as `Hold.message` says it."""
        self.paused_at = now
        self.apply(event, message, notice=notice)
        self.hold = Hold(PAUSED_BY[type(event)], why)

    def operator_pause(self, event: Paused, now: float) -> None:
        self.pause(event, now, f"rollout paused by {event.by}", why=f"paused by {event.by}")

    def inconclusive(self, what: str, now: float) -> None:
        self.pause(
            AnalysisInconclusive(what),
            now,
            f"rollout paused: {what} inconclusive; promote or abort",
            why=f"{what} inconclusive",
        )

    def resume(self, event: Resumed | Promoted, now: float, message: str) -> None:
        self.apply(event, message)
        self.restart_deadline(now)

    def promoted(self, event: Promoted, now: float) -> None:
        """A promote leaves a pause (and says so) or keeps the rollout PROGRESSING."""
        if self._phase is Phase.PAUSED:
            self.resume(event, now, f"rollout resumed by {event.by}")
        else:
            self.apply(event)

    @abc.abstractmethod
    def restart_deadline(self, now: float) -> None:
        """The progress deadline starts again: time spent paused is not lack of progress."""

    # --- failure and rollback ------------------------------------------------------------
    def boot_failure(self, obs: Mapping[int, RevisionObs]) -> BootFailed | None:
        limit = self.params.boot_failure_limit
        for r in revision_obs(obs, self.target).replicas:
            if r.boot_failures >= limit:
                why = f": {r.last_error}" if r.last_error else ""
                return BootFailed(f"replica {r.id} failed at boot {r.boot_failures} times{why}")
        return None

    def not_ready(self) -> str:
        """For the first target replica that is not ready and says why (what a progress
        deadline waited for): "; r3-1 not ready: <its last error>"; else ""."""
        culprit = blocking(revision_obs(self.observed, self.target))
        return "" if culprit is None else f"; {culprit.id} not ready: {culprit.last_error}"

    def fail(self, event: Failure, c: Counts) -> None:
        self.reason, self._hold = event.reason, c.new_ready
        self.apply(event, f"rollout failed: {event.reason}")
        if self.stable is None:
            self.apply(RollbackComplete())  # nothing to restore: failed at once
        else:
            self.pending.append(f"rolling back to revision {self.stable}")

    def rollback_step(self, c: Counts, now: float) -> None:
        """End the rollback once the stable is fully available and no target replica lives,
        or give up on the stable once it is still short of its size past the deadline."""
        if self._phase is not Phase.ROLLING_BACK:
            return
        if self._rollback_since is None:
            self._rollback_since = now
        if c.old_avail >= self.restore:
            if not c.new_live:  # else the target is still being scaled down
                done = AbortComplete() if self.aborted else RollbackComplete()
                self.apply(done, f"rollback complete: revision {self.stable} restored")
            return
        deadline = self.rollback_deadline
        if now - self._rollback_since > deadline:
            assert self.stable is not None, "a first rollout fails without rolling back"
            self.gave_up = end = give_up(c, self.stable, self.target, self.restore, deadline)
            self.reason = f"{self.reason}; {end.message}"
            self.apply(RollbackDeadlineExceeded(end.message), end.message)

    @property
    def rollback_deadline(self) -> float:
        """Seconds the stable has to come back once a rollback begins."""
        deadline = self.params.rollback_deadline
        return self.params.progress_deadline if deadline is None else deadline

    def rollback_scale(self, c: Counts) -> dict[int, int]:
        assert self.stable is not None, "a first rollout fails without rolling back"
        self._hold = min(self._hold, c.new_ready)
        old, new = plan_rollback(c, self.restore, self._hold)
        return {self.stable: old, self.target: new}

    # --- the decision --------------------------------------------------------------------
    def decide(
        self,
        obs: Mapping[int, RevisionObs],
        c: Counts,
        scale: dict[int, int],
        *,
        traffic: Traffic | None = None,
        analyses: Sequence[AnalysisRequest] = (),
        step: int | None = None,
        linger: Mapping[int, float] | None = None,
    ) -> Decision:
        """The decision for `scale`: pending messages, then scale events; notices; removals."""
        events = (*self.pending, *self._scale_events(scale, c))
        notices = tuple(n for n in Notice if n in self._notices)
        self.pending, self._notices = [], set()
        guarding = self.guard if self._phase is Phase.GUARDING else None
        if guarding is not None:
            analyses = (*analyses, *guarding.requests())
        return Decision(
            phase=self._phase,
            scale=scale,
            events=events,
            reason=self.reason,
            traffic=Traffic() if traffic is None else traffic,
            analyses=tuple(analyses),
            step=step,
            notices=notices,
            linger={} if linger is None else linger,
            remove=removals(obs, scale),
            kept=None if self.gave_up is None else self.gave_up.kept,
            hold=self.hold if self._phase is Phase.PAUSED else None,
            guard=None if guarding is None else guarding.view(),
        )

    def _scale_events(self, scale: dict[int, int], c: Counts) -> list[str]:
        observed = {self.target: c.new_live}
        if self.stable is not None:
            observed[self.stable] = c.old_live
        previous = self.last_scale or observed  # first step: compare with what runs now
        self.last_scale = dict(scale)  # the caller may mutate the decision it got
        return [
            f"scaled revision {rev} {'up' if want > previous.get(rev, 0) else 'down'} to {want}"
            for rev, want in scale.items()
            if want != previous.get(rev, 0)
        ]


def blocking(rev: RevisionObs) -> ReplicaObs | None:
    """The first replica observed (the supervisor lists them oldest first) that is live,
    not READY and has a last error."""
    return next((r for r in rev.replicas if r.last_error and _not_ready(r)), None)


def _not_ready(r: ReplicaObs) -> bool:
    return r.state is not ReplicaState.READY and not r.state.terminating
