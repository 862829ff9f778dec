"""Blue-green rollout: a full-size preview beside the active revision, then one switch.

Invariant: `step` is pure and idempotent. Public traffic goes to exactly one revision at
a time (weights {active: 100}); the switch happens only when the preview has all its
replicas available, in one decision; the old revision keeps its full size through the
switch, post-promotion analysis and the guard window, so switching back never waits for
a process. On success the old revision is left warm until `scale_down_delay` has passed
(`linger`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from changeover.rollout.decision import (
    NO_RUNS,
    AnalysisObs,
    AnalysisRequest,
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
    Resumed,
)
from changeover.rollout.observe import RevisionObs
from changeover.rollout.phase import Phase
from changeover.rollout.plan import Counts
from changeover.rollout.progressive import Progressive, ProgressiveParams


@dataclass(frozen=True)
class BlueGreenParams(ProgressiveParams):
    auto_promote: bool = True
    auto_promote_delay: float = 0.0
    scale_down_delay: float = 30.0
    pre_promotion_analysis: str | None = None
    post_promotion_analysis: str | None = None


class Stage(enum.Enum):
    PREVIEW = "preview"  # scaling the preview revision to full size
    PRE_ANALYSIS = "pre-promotion analysis"
    AWAITING = "awaiting promotion"
    SWITCHED = "switched"  # public traffic on the new revision; post-promotion analysis
    DONE = "done"

    def __repr__(self) -> str:
        return f"<Stage {self.value}>"


class BlueGreen(Progressive):
    params: BlueGreenParams

    def __init__(
        self, stable: int, target: int, params: BlueGreenParams, started_at: float
    ) -> None:
        super().__init__(stable, target, params, started_at)
        self.stage = Stage.PREVIEW
        self._ready_at = started_at
        self._promote = False  # the operator asked to switch as soon as the preview is ready
        self._promoted_by = "operator"

    # --- commands -------------------------------------------------------------------
    def handle(self, event: OperatorEvent, now: float) -> str:
        if isinstance(event, AbortRequested):
            return self.abort(event, f"rollout aborted by {event.by}: traffic back to stable")
        if isinstance(event, Paused):
            self.operator_pause(event, now)
        elif isinstance(event, Resumed):
            self._promote = self.paused_by is PausedBy.STEP  # resuming a manual gate promotes
            self.resume(event, now, f"rollout resumed by {event.by}")
        else:
            self._promote, self._promoted_by = True, event.by
            self.promoted(event, now)
            self.say(f"promotion requested by {event.by}")
        return self.pending[-1]

    # --- stepping -------------------------------------------------------------------
    def step(
        self, obs: Mapping[int, RevisionObs], now: float, runs: Mapping[str, AnalysisObs] = NO_RUNS
    ) -> Decision:
        c = self.counts(obs, now)
        self.watch(obs, c, now, runs)
        if self.phase in (Phase.PROGRESSING, Phase.PAUSED):
            failure = self.boot_failure(obs)
            if failure is not None:
                self.fail(failure, c)
        if self.phase is Phase.PROGRESSING:
            self._advance(c, now, runs)
        self.rollback_step(c, now)
        scale, traffic = self._plan(c)
        active = self.phase in (Phase.PROGRESSING, Phase.PAUSED)
        linger = {self.stable: now + self.params.scale_down_delay}
        return self.decide(
            obs,
            c,
            scale,
            traffic=traffic,
            analyses=self._analyses() if active else (),
            linger=linger if self.phase is Phase.SUCCEEDED else None,
        )

    def _advance(self, c: Counts, now: float, runs: Mapping[str, AnalysisObs]) -> None:
        p = self.params
        if self.stage is Stage.PREVIEW:
            failure = self.waiting(c.new_avail >= p.replicas, now)
            if failure is not None:
                self.fail(failure, c)
                return
            if c.new_avail < p.replicas:
                return
            self._ready_at = now
            self.say(f"preview revision {self.target} is ready ({p.replicas} replicas)")
            self.stage = Stage.PRE_ANALYSIS if p.pre_promotion_analysis else Stage.AWAITING
        pre = runs.get("pre-promotion")
        if self.stage is Stage.PRE_ANALYSIS and (
            self._promote or self._gate(pre, "pre-promotion", c, now)
        ):
            self.stage = Stage.AWAITING
        if self.stage is Stage.AWAITING:
            self._await_promotion(now)
        if self.stage is Stage.SWITCHED:
            post = p.post_promotion_analysis
            if post is None or self._gate(runs.get("post-promotion"), "post-promotion", c, now):
                self.stage = Stage.DONE
                self.complete(now)
            elif self._promote and self.phase is Phase.PROGRESSING:
                self.stage = Stage.DONE
                self.complete(now, f"rollout succeeded: promoted by {self._promoted_by}")

    def _await_promotion(self, now: float) -> None:
        p = self.params
        due = p.auto_promote and now >= self._ready_at + p.auto_promote_delay
        if not (due or self._promote):
            if not p.auto_promote:
                message = "rollout paused: waiting for `changeover promote`"
                why = f"preview revision {self.target} is ready"
                self.pause(PauseStepReached(), now, message, why=why)
            return
        self._promote = False  # consumed by the switch; a later promote skips post-analysis
        self.stage = Stage.SWITCHED
        self.say(f"promoted: revision {self.target} serves 100% of traffic", Notice.PROMOTED)

    def _gate(self, run: AnalysisObs | None, which: str, c: Counts, now: float) -> bool:
        """True once the named analysis passed; fails or pauses the rollout otherwise."""
        what = f"{which} analysis"
        failure = self.run_failure(run, what)
        if failure is not None:
            self.fail(failure, c)
            return False
        if self.inconclusive_run(run):
            self.inconclusive(what, now)
            return False
        return run is not None and run.state is RunState.SUCCESSFUL

    # --- desired state --------------------------------------------------------------
    def _plan(self, c: Counts) -> tuple[dict[int, int], Traffic]:
        p, stable, target = self.params, self.stable, self.target
        if self.phase in (Phase.ROLLING_BACK, Phase.FAILED, Phase.ABORTED):
            return self.rollback_plan(c)
        if self.phase is Phase.GUARDING:
            return self.guarding_plan()
        scale = {stable: p.stable_replicas, target: p.replicas}
        active = target if self.stage in (Stage.SWITCHED, Stage.DONE) else stable
        preview = None if self.phase is Phase.SUCCEEDED else target
        return scale, Traffic(weights={active: 100}, preview=preview)

    def _analyses(self) -> tuple[AnalysisRequest, ...]:
        p, target, stable = self.params, self.target, self.stable
        if self.stage is Stage.PRE_ANALYSIS and p.pre_promotion_analysis and not self._promote:
            return (AnalysisRequest("pre-promotion", p.pre_promotion_analysis, target, stable),)
        if self.stage is Stage.SWITCHED and p.post_promotion_analysis:
            return (AnalysisRequest("post-promotion", p.post_promotion_analysis, target, stable),)
        return ()
