"""From a stored spec to the strategy machine, and the spec's steps to rollout values."""

from __future__ import annotations

import pytest

from changeover.agent.strategies import build, canary_steps
from changeover.rollout.bluegreen import BlueGreen
from changeover.rollout.canary import Canary
from changeover.rollout.guard import GuardParams
from changeover.rollout.rolling import RollingUpdate
from changeover.rollout.steps import (
    Analysis,
    CanaryScale,
    HeaderRoute,
    Pause,
    SetCanaryScale,
    SetHeaderRoute,
    SetWeight,
    describe_step,
)
from changeover.spec.load import load_spec_text
from changeover.spec.models import Spec
from changeover.spec.strategy import StrategyName

SPEC = """
[app]
name = "svc"
command = "python -m app"
replicas = 4
[strategy]
type = "canary"
steps = [
  { set_weight = 10 },
  { pause = "1m30s" },
  { pause = {} },
  { analysis = "slo" },
  { set_canary_scale = { replicas = 3 } },
  { set_canary_scale = { weight = 50, match_traffic_weight = true } },
  { set_header_route = { header = "x-canary", prefix = "be" } },
]
pre_promotion_analysis = "slo"
auto_promote = false
[analysis.slo]
metrics = [{ name = "ok", provider = "builtin", query = "success_rate", min = 0.99 }]
"""


@pytest.fixture
def spec() -> Spec:
    return load_spec_text(SPEC, "svc.toml")


def test_each_spec_step_becomes_its_frozen_value(spec: Spec) -> None:
    assert canary_steps(spec) == (
        SetWeight(10),
        Pause(90.0),
        Pause(None),
        Analysis("slo"),
        SetCanaryScale(CanaryScale(replicas=3)),
        SetCanaryScale(CanaryScale(weight=50, match_traffic_weight=True)),
        SetHeaderRoute(HeaderRoute("x-canary", prefix="be")),
    )


def test_steps_read_as_events_and_status_show_them(spec: Spec) -> None:
    assert [describe_step(s) for s in canary_steps(spec)] == [
        "set_weight 10%",
        "pause 90s",
        "pause until promote",
        "analysis slo",
        "set_canary_scale {'replicas': 3}",
        "set_canary_scale {'weight': 50, 'match_traffic_weight': True}",
        "set_header_route x-canary",
    ]


def test_a_canary_scale_and_a_header_route_read_as_the_spec_wrote_them(spec: Spec) -> None:
    for given, made in zip(spec.strategy.steps, canary_steps(spec), strict=True):
        if isinstance(made, SetCanaryScale):
            assert given.set_canary_scale is not None
            assert made.scale.describe() == str(
                given.set_canary_scale.model_dump(exclude_defaults=True)
            )
        if isinstance(made, SetHeaderRoute):
            assert given.set_header_route is not None
            assert made.route.as_dict() == given.set_header_route.model_dump(exclude_none=True)


def test_build_picks_the_machine_by_name(spec: Spec) -> None:
    def made(name: StrategyName, stable: int | None = 1, instant: bool = False) -> object:
        return build(
            name, stable=stable, target=2, spec=spec, stable_replicas=3, now=0.0, instant=instant
        )

    assert isinstance(made(StrategyName.ROLLING), RollingUpdate)
    assert isinstance(made(StrategyName.CANARY, stable=None), RollingUpdate)  # a first rollout
    canary = made(StrategyName.CANARY)
    assert isinstance(canary, Canary)
    assert canary.params.steps == canary_steps(spec)
    assert canary.params.stable_replicas == 3
    gated = made(StrategyName.BLUE_GREEN)
    assert isinstance(gated, BlueGreen)
    assert (gated.params.auto_promote, gated.params.pre_promotion_analysis) == (False, "slo")
    instant = made(StrategyName.BLUE_GREEN, instant=True)  # undo: no gates
    assert isinstance(instant, BlueGreen)
    assert (instant.params.auto_promote, instant.params.pre_promotion_analysis) == (True, None)


@pytest.mark.parametrize("name", list(StrategyName))
def test_a_guard_window_guards_deploys_of_every_strategy_but_not_undo_or_a_first_rollout(
    name: StrategyName,
) -> None:
    guarded = load_spec_text(SPEC + '[guard]\nwindow = "2m"\nanalysis = "slo"\n', "svc.toml")

    def made(stable: int | None = 1, instant: bool = False) -> GuardParams | None:
        machine = build(
            name, stable=stable, target=2, spec=guarded, stable_replicas=3, now=0.0,
            instant=instant,
        )  # fmt: skip
        assert isinstance(machine, RollingUpdate | Canary | BlueGreen)
        return machine.params.guard

    assert made() == GuardParams(window=120.0, analysis="slo")
    assert made(instant=True) is None  # undo goes back: nothing to guard it with
    assert made(stable=None) is None  # the first rollout has nothing to go back to
    spec = load_spec_text(SPEC, "svc.toml")
    plain = build(name, stable=1, target=2, spec=spec, stable_replicas=3, now=0.0)
    assert isinstance(plain, RollingUpdate | Canary | BlueGreen)
    assert plain.params.guard is None
