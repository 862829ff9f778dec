"""From a revision's spec and a rollout kind to the pure strategy machine that runs it.

Invariant: the machine's parameters come only from stored revision snapshots (the
target's spec; the stable's replica count), so a rollout behaves the same whichever
spec file the operator has on disk now.
"""

from __future__ import annotations

from dataclasses import fields

from changeover.agent.controller import Strategy
from changeover.agent.releases import BadRequest, rolling_params
from changeover.rollout.bluegreen import BlueGreen, BlueGreenParams
from changeover.rollout.canary import Canary, CanaryParams
from changeover.rollout.progressive import ProgressiveParams
from changeover.rollout.rolling import RollingUpdate
from changeover.spec.models import Spec

STRATEGIES = ("rolling", "blue-green", "canary")


def check_strategy(name: str) -> str:
    if name not in STRATEGIES:
        raise BadRequest(
            f"--strategy: unknown strategy {name!r}; expected one of rolling, blue-green, canary"
        )
    return name


def build(
    name: str,
    *,
    stable: int | None,
    target: int,
    spec: Spec,
    stable_replicas: int | None,
    now: float,
    instant: bool = False,
) -> Strategy:
    """The machine for `name`; `instant` (undo) skips analysis and promotion gates."""
    if name == "rolling" or stable is None:
        return RollingUpdate(stable, target, rolling_params(spec, stable_replicas), started_at=now)
    s, n = spec.strategy, spec.app.replicas
    base = ProgressiveParams(
        replicas=n,
        stable_replicas=n if stable_replicas is None else stable_replicas,
        min_ready=s.min_ready,
        progress_deadline=s.progress_deadline,
    )
    common = {f.name: getattr(base, f.name) for f in fields(base)}
    if name == "canary":
        params = CanaryParams(
            **common,
            steps=tuple(s.steps),
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
