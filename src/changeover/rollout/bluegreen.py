"""Blue-green rollout: a full-size preview beside the active revision, then one switch.

Invariant: `step` is pure and idempotent. Public traffic goes to exactly one revision at
a time (weights {active: 100}); the switch happens only when the preview has all its
replicas available, in one decision; the old revision keeps its full size through the
switch and post-promotion analysis, so switching back never waits for a process. On
success the old revision is left warm until `scale_down_delay` has passed (`linger`).
"""

from __future__ import annotations

import enum
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
    def command(self, command: Command, now: float, by: str = "operator") -> str:
        phase = self.phase
        if command is Command.ABORT:
            return self.abort(by)
        if command is Command.PAUSE and phase is Phase.PROGRESSING:
            self.pause("operator", now, f"rollout paused by {by}")
        elif command is Command.RESUME and phase is Phase.PAUSED:
            if self.paused_by == "analysis":
                raise CommandRefused(
                    "the analysis was inconclusive: `promote` accepts it, `abort` rolls back"
                )
            self._promote = self.paused_by == "step"  # resuming a manual gate promotes
            self.unpause(f"rollout resumed by {by}")
        elif command in (Command.PROMOTE, Command.PROMOTE_FULL) and phase.active:
            if phase is Phase.ROLLING_BACK:
                raise self.refuse(command)
            self._promote, self._promoted_by = True, by
            if phase is Phase.PAUSED:
                self.unpause(f"rollout resumed by {by}")
            self.pending.append(f"promotion requested by {by}")
        else:
            raise self.refuse(command)
        return self.pending[-1]

    # --- stepping -------------------------------------------------------------------
    def step(
        self, obs: Mapping[int, RevisionObs], now: float, runs: Mapping[str, AnalysisObs] = NO_RUNS
    ) -> Decision:
        c = self.counts(obs, now)
        if self.phase in (Phase.PROGRESSING, Phase.PAUSED):
            reason = self.boot_failure(obs)
            if reason:
                self.fail(reason, c)
        if self.phase is Phase.PROGRESSING:
            self._advance(c, now, runs)
        self.rollback_step(c)
        scale, traffic = self._plan(c)
        events = [*self.pending, *self.scale_events(scale, c)]
        self.pending = []
        linger = {}
        if self.phase is Phase.SUCCEEDED:
            linger = {self.stable: now + self.params.scale_down_delay}
        return Decision(
            phase=self.phase,
            scale=scale,
            events=tuple(events),
            reason=self.reason,
            traffic=traffic,
            analyses=self._analyses() if self.phase in (Phase.PROGRESSING, Phase.PAUSED) else (),
            notices=("promoted",) if any(e.startswith("promoted") for e in events) else (),
            linger=linger,
        )

    def _advance(self, c: Counts, now: float, runs: Mapping[str, AnalysisObs]) -> None:
        p = self.params
        if self.stage is Stage.PREVIEW:
            reason = self.waiting(c.new_avail >= p.replicas, now)
            if reason:
                self.fail(reason, c)
                return
            if c.new_avail < p.replicas:
                return
            self._ready_at = now
            self.pending.append(f"preview revision {self.target} is ready ({p.replicas} replicas)")
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
                self.move(Phase.SUCCEEDED, f"rollout succeeded: revision {self.target} is stable")
            elif self._promote and self.phase is Phase.PROGRESSING:
                self.stage = Stage.DONE
                self.move(Phase.SUCCEEDED, f"rollout succeeded: promoted by {self._promoted_by}")

    def _await_promotion(self, now: float) -> None:
        p = self.params
        due = p.auto_promote and now >= self._ready_at + p.auto_promote_delay
        if not (due or self._promote):
            if not p.auto_promote:
                self.pause("step", now, "rollout paused: waiting for `changeover promote`")
            return
        self._promote = False  # consumed by the switch; a later promote skips post-analysis
        self.stage = Stage.SWITCHED
        self.pending.append(f"promoted: revision {self.target} serves 100% of traffic")

    def _gate(self, run: AnalysisObs | None, which: str, c: Counts, now: float) -> bool:
        """True once the named analysis passed; fails or pauses the rollout otherwise."""
        what = f"{which} analysis"
        reason = self.run_failure(run, what)
        if reason:
            self.fail(reason, c)
            return False
        if run is not None and run.state is RunState.INCONCLUSIVE:
            self.pause("analysis", now, f"rollout paused: {what} inconclusive; promote or abort")
            return False
        return run is not None and run.state is RunState.SUCCESSFUL

    # --- desired state --------------------------------------------------------------
    def _plan(self, c: Counts) -> tuple[dict[int, int], Traffic]:
        p, stable, target = self.params, self.stable, self.target
        if self.phase in (Phase.ROLLING_BACK, Phase.FAILED, Phase.ABORTED):
            return self.rollback_plan(c)
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
