"""From a revision's spec and a strategy name to the pure strategy machine that runs it.

Invariant: the machine's parameters come only from stored revision snapshots (the
target's spec; the stable's replica count), so a rollout behaves the same whichever
spec file the operator has on disk now. This is where the spec's pydantic models become
the rollout layer's own frozen values (`rollout.steps`, `rollout.guard`). A deploy with
`[guard] window` is guarded; an undo (`instant`) and a first rollout never are.
"""

from __future__ import annotations

from dataclasses import fields, replace

from changeover.agent.releases import rolling_params
from changeover.rollout import steps
from changeover.rollout.bluegreen import BlueGreen, BlueGreenParams
from changeover.rollout.canary import Canary, CanaryParams
from changeover.rollout.guard import GuardParams
from changeover.rollout.progressive import ProgressiveParams
from changeover.rollout.rolling import RollingUpdate
from changeover.rollout.strategy import Strategy
from changeover.spec import models
from changeover.spec.strategy import StrategyName


def build(
    name: StrategyName,
    *,
    stable: int | None,
    target: int,
    spec: models.Spec,
    stable_replicas: int | None,
    now: float,
    instant: bool = False,
) -> Strategy:
    """The machine for `name`; `instant` (undo) skips analysis, promotion and guard gates."""
    guard = None if instant or stable is None else guard_params(spec)
    if name is StrategyName.ROLLING or stable is None:
        rolling = replace(rolling_params(spec, stable_replicas), guard=guard)
        return RollingUpdate(stable, target, rolling, started_at=now)
    s, n = spec.strategy, spec.app.replicas
    base = ProgressiveParams(
        replicas=n,
        stable_replicas=n if stable_replicas is None else stable_replicas,
        min_ready=s.min_ready,
        progress_deadline=s.progress_deadline,
        rollback_deadline=s.rollback_deadline,
        guard=guard,
    )
    common = {f.name: getattr(base, f.name) for f in fields(base)}
    if name is StrategyName.CANARY:
        params = CanaryParams(
            **common,
            steps=canary_steps(spec),
            background_analysis=s.background_analysis,
            sticky=s.sticky,
        )
        return Canary(stable, target, params, now)
    bg = BlueGreenParams(
        **common,
        auto_promote=True if instant else s.auto_promote,
        auto_promote_delay=0.0 if instant else s.auto_promote_delay,
        scale_down_delay=s.scale_down_delay,
        pre_promotion_analysis=None if instant else s.pre_promotion_analysis,
        post_promotion_analysis=None if instant else s.post_promotion_analysis,
    )
    return BlueGreen(stable, target, bg, now)


def guard_params(spec: models.Spec) -> GuardParams | None:
    """The guard window of a validated spec, if it has one."""
    window = spec.guard.window
    return None if window is None else GuardParams(window, spec.guard.analysis)


def canary_steps(spec: models.Spec) -> tuple[steps.Step, ...]:
    return tuple(step_of(s) for s in spec.strategy.steps)


def step_of(step: models.Step) -> steps.Step:
    """The rollout's value for one validated spec step (exactly one key is set)."""
    if step.set_weight is not None:
        return steps.SetWeight(step.set_weight)
    if step.pause is not None:
        return steps.Pause(None if isinstance(step.pause, dict) else step.pause)
    if step.analysis is not None:
        return steps.Analysis(step.analysis)
    if step.set_canary_scale is not None:
        scale = step.set_canary_scale
        return steps.SetCanaryScale(
            steps.CanaryScale(scale.replicas, scale.weight, scale.match_traffic_weight)
        )
    route = step.set_header_route
    assert route is not None, "a validated step sets exactly one key"
    return steps.SetHeaderRoute(
        steps.HeaderRoute(route.header, route.value, route.prefix, route.regex)
    )
