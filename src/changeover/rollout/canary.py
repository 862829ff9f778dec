"""Canary rollout: exact traffic weights through steps, analysis gates, then full promotion.

Invariant: `step` is pure and idempotent. The stable revision keeps its full size until
the canary serves 100% of public traffic, so an abort or a failed analysis moves all
traffic back to the stable in the very next decision, before any process starts or stops.
A weight is applied only once the canary has the replicas that weight needs (progress
deadline while waiting); after the last step the canary grows to full size, takes all
traffic, and only then is the stable scaled to zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from changeover.rollout.decision import (
    NO_RUNS,
    AnalysisObs,
    AnalysisRequest,
    Command,
    CommandRefused,
    Decision,
    RunState,
    Traffic,
)
from changeover.rollout.observe import RevisionObs
from changeover.rollout.phase import Phase
from changeover.rollout.plan import Counts
from changeover.rollout.progressive import Progressive, ProgressiveParams
from changeover.spec.models import CanaryScale, HeaderRoute, Step


@dataclass(frozen=True)
class CanaryParams(ProgressiveParams):
    steps: tuple[Step, ...] = ()
    background_analysis: str | None = None
    sticky: str | None = None


def describe_step(step: Step) -> str:
    if step.set_weight is not None:
        return f"set_weight {step.set_weight}%"
    if step.pause is not None:
        return "pause until promote" if isinstance(step.pause, dict) else f"pause {step.pause:g}s"
    if step.analysis is not None:
        return f"analysis {step.analysis}"
    if step.set_canary_scale is not None:
        return f"set_canary_scale {step.set_canary_scale.model_dump(exclude_defaults=True)}"
    assert step.set_header_route is not None
    return f"set_header_route {step.set_header_route.header}"


class Canary(Progressive):
    params: CanaryParams

    def __init__(self, stable: int, target: int, params: CanaryParams, started_at: float) -> None:
        super().__init__(stable, target, params, started_at)
        self.index = 0  # current step; len(steps) = full promotion
        self.weight = 0  # canary's applied share of public traffic, percent
        self._step_started = started_at
        self._override: CanaryScale | None = None
        self._route: HeaderRoute | None = None
        self._background = "off"  # "on" once the canary gets traffic; "dropped" if accepted
        self._switched = False  # full promotion: all public traffic on the canary

    # --- commands -------------------------------------------------------------------
    def command(self, command: Command, now: float, by: str = "operator") -> str:
        if command is Command.ABORT:
            return self.abort(by)
        if command is Command.PAUSE and self.phase is Phase.PROGRESSING:
            self.pause("operator", now, f"rollout paused by {by}")
        elif command is Command.RESUME and self.phase is Phase.PAUSED:
            if self.paused_by == "analysis":
                raise CommandRefused(
                    "the analysis was inconclusive: `promote` accepts it, `abort` rolls back"
                )
            self._resume(now, f"rollout resumed by {by}")
        elif command is Command.PROMOTE and self.phase in (Phase.PROGRESSING, Phase.PAUSED):
            if self.index >= len(self.params.steps):
                raise CommandRefused("the canary is already being promoted to 100%")
            if self.paused_by == "analysis" and self.params.steps[self.index].analysis is None:
                self.unpause(f"inconclusive background analysis accepted by {by}")
                return self.pending[-1]
            self._skip(now, f"step {self.index + 1} skipped by {by} (promote)", by)
        elif command is Command.PROMOTE_FULL and self.phase in (Phase.PROGRESSING, Phase.PAUSED):
            self._unpause_if_paused(now, by)
            self.index = len(self.params.steps)
            self.pending.append(f"full promotion requested by {by}: skipping remaining steps")
        else:
            raise self.refuse(command)
        return self.pending[-1]

    def _resume(self, now: float, message: str) -> None:
        by = self.paused_by
        self._step_started += now - self.paused_at  # a timed pause does not run while paused
        self.unpause(message)
        if by == "step":
            self._next_step(now)

    def _skip(self, now: float, message: str, by: str) -> None:
        self._unpause_if_paused(now, by)
        step = self.params.steps[self.index]
        if step.set_weight is not None:
            self.weight = step.set_weight
        self.pending.append(message)
        self._next_step(now)

    def _unpause_if_paused(self, now: float, by: str) -> None:
        if self.phase is Phase.PAUSED:
            self.paused_by = ""
            self.unpause(f"rollout resumed by {by}")

    # --- stepping -------------------------------------------------------------------
    def step(
        self, obs: Mapping[int, RevisionObs], now: float, runs: Mapping[str, AnalysisObs] = NO_RUNS
    ) -> Decision:
        c = self.counts(obs, now)
        if self.phase in (Phase.PROGRESSING, Phase.PAUSED):
            reason = self.boot_failure(obs) or self.run_failure(
                runs.get("background"), "background analysis"
            )
            if reason:
                self.fail(reason, c)
            elif self._background == "on" and self._inconclusive(runs.get("background")):
                self._background = "dropped"  # the operator's promote accepts it
                self.pause(
                    "analysis",
                    now,
                    "rollout paused: background analysis inconclusive; promote or abort",
                )
        if self.phase is Phase.PROGRESSING:
            self._advance(c, now, runs)
        self.rollback_step(c)
        scale, traffic = self._plan(c)
        events = [*self.pending, *self.scale_events(scale, c)]
        self.pending = []
        notices = tuple(e for e in ("step", "promoted") if any(m.startswith(e) for m in events))
        return Decision(
            phase=self.phase,
            scale=scale,
            events=tuple(events),
            reason=self.reason,
            traffic=traffic,
            analyses=self._analyses() if self.phase in (Phase.PROGRESSING, Phase.PAUSED) else (),
            step=self.index,
            notices=notices,
        )

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
        if step.set_weight is not None:
            need = self._count(step.set_weight)
            if not self._wait(c.new_avail >= need, c, now):
                return False
            self.weight = step.set_weight
            if self.weight > 0:
                self._start_background()
            return True
        if step.pause is not None:
            if isinstance(step.pause, dict):
                self.pause("step", now, f"step {self.index + 1}: paused until promote")
                return False
            return now >= self._step_started + step.pause
        if step.analysis is not None:
            return self._analysis_done(runs.get(f"step-{self.index}"), c, now)
        if step.set_canary_scale is not None:
            self._override = step.set_canary_scale
            return True
        assert step.set_header_route is not None
        self._route = step.set_header_route
        self._start_background()
        return self._wait(c.new_avail >= 1, c, now)

    def _analysis_done(self, run: AnalysisObs | None, c: Counts, now: float) -> bool:
        what = f"analysis {self.params.steps[self.index].analysis!r}"
        reason = self.run_failure(run, what)
        if reason:
            self.fail(reason, c)
            return False
        if self._inconclusive(run):
            self.pause("analysis", now, f"rollout paused: {what} inconclusive; promote or abort")
            return False
        return run is not None and run.state is RunState.SUCCESSFUL

    def _promote(self, c: Counts, now: float) -> None:
        n = self.params.replicas
        if not self._wait(c.new_avail >= n, c, now):
            return
        if not self._switched:
            self._switched, self.weight = True, 100
            self.pending.append(f"promoted: revision {self.target} serves 100% of traffic")
        if not c.old_live:
            self.move(Phase.SUCCEEDED, f"rollout succeeded: revision {self.target} is stable")

    def _wait(self, satisfied: bool, c: Counts, now: float) -> bool:
        reason = self.waiting(satisfied, now)
        if reason:
            self.fail(reason, c)
        return satisfied

    def _next_step(self, now: float) -> None:
        self.index += 1
        self._step_started = now
        steps = self.params.steps
        if self.index < len(steps):
            self.pending.append(
                f"step {self.index + 1}/{len(steps)}: {describe_step(steps[self.index])}"
            )

    def _start_background(self) -> None:
        if self._background == "off":
            self._background = "on"

    @staticmethod
    def _inconclusive(run: AnalysisObs | None) -> bool:
        return run is not None and run.state is RunState.INCONCLUSIVE

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
        if self.index >= len(self.params.steps):
            scale = {stable: 0 if self._switched else self.params.stable_replicas}
            return {**scale, target: self.params.replicas}, self._traffic()
        want = self._count(self.weight)
        step = self.params.steps[self.index]
        if step.set_weight is not None and phase is Phase.PROGRESSING:
            want = max(want, self._count(step.set_weight))  # grow before shifting traffic
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
        if background is not None and self._background == "on":
            out.append(AnalysisRequest("background", background, self.target, self.stable))
        steps = self.params.steps
        if self.index < len(steps) and steps[self.index].analysis is not None:
            name = steps[self.index].analysis
            assert name is not None
            out.append(AnalysisRequest(f"step-{self.index}", name, self.target, self.stable))
        return tuple(out)
