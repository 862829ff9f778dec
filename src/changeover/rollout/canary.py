"""Canary rollout: exact traffic weights through steps, analysis gates, then full promotion.

Invariant: `step` is pure and idempotent. The stable revision keeps its full size until
the canary serves 100% of public traffic, so an abort or a failed analysis moves all
traffic back to the stable in the very next decision, before any process starts or stops.
A weight is applied only once the canary has the replicas that weight needs (progress
deadline while waiting); after the last step the canary grows to full size, takes all
traffic, and only then is the stable scaled to zero.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass

from changeover.rollout.decision import (
    NO_RUNS,
    AnalysisObs,
    AnalysisRequest,
    CommandRefused,
    Decision,
    Notice,
    PausedBy,
    RunState,
    Traffic,
)
from changeover.rollout.events import (
    AbortRequested,
    OperatorEvent,
    Paused,
    PauseStepReached,
    Promoted,
    Resumed,
    StepCompleted,
)
from changeover.rollout.observe import RevisionObs
from changeover.rollout.phase import Phase
from changeover.rollout.plan import Counts
from changeover.rollout.progressive import Progressive, ProgressiveParams
from changeover.rollout.steps import (
    Analysis,
    CanaryScale,
    HeaderRoute,
    Pause,
    SetCanaryScale,
    SetWeight,
    Step,
    describe_step,
)


@dataclass(frozen=True)
class CanaryParams(ProgressiveParams):
    steps: tuple[Step, ...] = ()
    background_analysis: str | None = None
    sticky: str | None = None


class Background(enum.Enum):
    """The background analysis: it runs once the canary gets traffic."""

    OFF = "off"  # the canary has had no traffic yet
    ON = "on"  # running (requested in every decision)
    DROPPED = "dropped"  # it was inconclusive; the operator's promote accepts that

    def __repr__(self) -> str:
        return f"<Background {self.value}>"


class Canary(Progressive):
    params: CanaryParams

    def __init__(self, stable: int, target: int, params: CanaryParams, started_at: float) -> None:
        super().__init__(stable, target, params, started_at)
        self.index = 0  # current step; len(steps) = full promotion
        self.weight = 0  # canary's applied share of public traffic, percent
        self._step_started = started_at
        self._override: CanaryScale | None = None
        self._route: HeaderRoute | None = None
        self._background = Background.OFF
        self._switched = False  # full promotion: all public traffic on the canary

    # --- commands -------------------------------------------------------------------
    def handle(self, event: OperatorEvent, now: float) -> str:
        if isinstance(event, AbortRequested):
            return self.abort(event, f"rollout aborted by {event.by}: traffic back to stable")
        if isinstance(event, Paused):
            self.operator_pause(event, now)
        elif isinstance(event, Resumed):
            self._resume(event, now)
        elif event.full:
            self.promoted(event, now)
            self.index = len(self.params.steps)
            self.say(f"full promotion requested by {event.by}: skipping remaining steps")
        else:
            self._promote_step(event, now)
        return self.pending[-1]

    def _resume(self, event: Resumed, now: float) -> None:
        at_step = self.paused_by is PausedBy.STEP
        self._step_started += now - self.paused_at  # a timed pause does not run while paused
        self.resume(event, now, f"rollout resumed by {event.by}")
        if at_step:
            self._next_step(now)

    def _promote_step(self, event: Promoted, now: float) -> None:
        steps = self.params.steps
        if self.index >= len(steps):
            raise CommandRefused("the canary is already being promoted to 100%")
        step = steps[self.index]
        if self.paused_by is PausedBy.ANALYSIS and not isinstance(step, Analysis):
            # the background analysis was inconclusive: accept it, keep the current step
            self.resume(event, now, f"inconclusive background analysis accepted by {event.by}")
            return
        self.promoted(event, now)
        if isinstance(step, SetWeight):
            self.weight = step.weight
        self.say(f"step {self.index + 1} skipped by {event.by} (promote)", Notice.STEP)
        self._next_step(now)

    # --- stepping -------------------------------------------------------------------
    def step(
        self, obs: Mapping[int, RevisionObs], now: float, runs: Mapping[str, AnalysisObs] = NO_RUNS
    ) -> Decision:
        c = self.counts(obs, now)
        self.watch(obs, c, now, runs)
        if self.phase in (Phase.PROGRESSING, Phase.PAUSED):
            background = runs.get("background")
            failure = self.boot_failure(obs) or self.run_failure(background, "background analysis")
            if failure is not None:
                self.fail(failure, c)
            elif self._background is Background.ON and self.inconclusive_run(background):
                self._background = Background.DROPPED  # the operator's promote accepts it
                self.inconclusive("background analysis", now)
        if self.phase is Phase.PROGRESSING:
            self._advance(c, now, runs)
        self.rollback_step(c, now)
        scale, traffic = self._plan(c)
        active = self.phase in (Phase.PROGRESSING, Phase.PAUSED)
        analyses = self._analyses() if active else ()
        return self.decide(obs, c, scale, traffic=traffic, analyses=analyses, step=self.index)

    def _advance(self, c: Counts, now: float, runs: Mapping[str, AnalysisObs]) -> None:
        steps = self.params.steps
        for _ in range(len(steps) + 1):  # several instant steps may complete in one tick
            if self.phase is not Phase.PROGRESSING:
                return
            if self.index >= len(steps):
                self._promote(c, now)
                return
            if not self._try(steps[self.index], c, now, runs):
                return
            self._next_step(now)

    def _try(self, step: Step, c: Counts, now: float, runs: Mapping[str, AnalysisObs]) -> bool:
        """Carry out `step` as far as possible; True once it is complete."""
        if isinstance(step, SetWeight):
            if not self._wait(c.new_avail >= self._count(step.weight), c, now):
                return False
            self.weight = step.weight
            if self.weight > 0:
                self._start_background()
            return True
        if isinstance(step, Pause):
            if step.seconds is None:
                message = f"step {self.index + 1}: paused until promote"
                why = f"step {self.index + 1}/{len(self.params.steps)}: {describe_step(step)}"
                self.pause(PauseStepReached(), now, message, Notice.STEP, why=why)
                return False
            return now >= self._step_started + step.seconds
        if isinstance(step, Analysis):
            return self._analysis_done(runs.get(f"step-{self.index}"), step.template, c, now)
        if isinstance(step, SetCanaryScale):
            self._override = step.scale
            return True
        self._route = step.route
        self._start_background()
        return self._wait(c.new_avail >= 1, c, now)

    def _analysis_done(self, run: AnalysisObs | None, template: str, c: Counts, now: float) -> bool:
        what = f"analysis {template!r}"
        failure = self.run_failure(run, what)
        if failure is not None:
            self.fail(failure, c)
            return False
        if self.inconclusive_run(run):
            self.inconclusive(what, now)
            return False
        return run is not None and run.state is RunState.SUCCESSFUL

    def _promote(self, c: Counts, now: float) -> None:
        if not self._wait(c.new_avail >= self.params.replicas, c, now):
            return
        if not self._switched:
            self._switched, self.weight = True, 100
            self.say(f"promoted: revision {self.target} serves 100% of traffic", Notice.PROMOTED)
        if self.guarded or not c.old_live:  # a guard keeps the stable warm: no wait for it
            self.complete(now)

    def _wait(self, satisfied: bool, c: Counts, now: float) -> bool:
        failure = self.waiting(satisfied, now)
        if failure is not None:
            self.fail(failure, c)
        return satisfied

    def _next_step(self, now: float) -> None:
        self.index += 1
        self._step_started = now
        steps = self.params.steps
        if self.index < len(steps):
            described = describe_step(steps[self.index])
            message = f"step {self.index + 1}/{len(steps)}: {described}"
            self.apply(StepCompleted(self.index), message, notice=Notice.STEP)
        else:
            self.apply(StepCompleted(self.index))  # next: full promotion

    def _start_background(self) -> None:
        if self._background is Background.OFF:
            self._background = Background.ON

    # --- desired state --------------------------------------------------------------
    def _count(self, weight: int) -> int:
        """Canary replicas for `weight`, unless a set_canary_scale step says otherwise."""
        n, override = self.params.replicas, self._override
        if override is not None and override.replicas is not None:
            wanted = override.replicas
        elif override is not None and override.weight is not None:
            wanted = math.ceil(n * override.weight / 100)
        else:
            wanted = math.ceil(n * weight / 100)
        return max(wanted, 1) if self._route is not None else wanted

    def _plan(self, c: Counts) -> tuple[dict[int, int], Traffic]:
        phase, stable, target = self.phase, self.stable, self.target
        if phase in (Phase.ROLLING_BACK, Phase.FAILED, Phase.ABORTED):
            return self.rollback_plan(c)
        if phase is Phase.SUCCEEDED:
            return {stable: 0, target: self.params.replicas}, Traffic()
        if phase is Phase.GUARDING:
            return self.guarding_plan()
        if self.index >= len(self.params.steps):
            scale = {stable: 0 if self._switched else self.params.stable_replicas}
            return {**scale, target: self.params.replicas}, self._traffic()
        want = self._count(self.weight)
        step = self.params.steps[self.index]
        if isinstance(step, SetWeight) and phase is Phase.PROGRESSING:
            want = max(want, self._count(step.weight))  # grow before shifting traffic
        return {stable: self.params.stable_replicas, target: want}, self._traffic()

    def _traffic(self) -> Traffic:
        route = self._route
        return Traffic(
            weights={self.stable: 100 - self.weight, self.target: self.weight},
            header_route=route,
            header_revision=self.target if route is not None else None,
            sticky=self.params.sticky,
        )

    def _analyses(self) -> tuple[AnalysisRequest, ...]:
        out = []
        background = self.params.background_analysis
        if background is not None and self._background is Background.ON:
            out.append(AnalysisRequest("background", background, self.target, self.stable))
        steps = self.params.steps
        if self.index < len(steps):
            step = steps[self.index]
            if isinstance(step, Analysis):
                key = f"step-{self.index}"
                out.append(AnalysisRequest(key, step.template, self.target, self.stable))
        return tuple(out)
