"""Every pause a strategy makes carries its `Hold`: who holds it, what it waits at, and the
command that continues it; no decision outside PAUSED has one."""

from __future__ import annotations

import pytest

from changeover.rollout.bluegreen import BlueGreen, BlueGreenParams
from changeover.rollout.canary import Canary, CanaryParams
from changeover.rollout.core import Core
from changeover.rollout.decision import Command, Decision, Hold, PausedBy, RunState
from changeover.rollout.events import Paused, Promoted, Resumed
from changeover.rollout.phase import Phase
from changeover.rollout.rolling import RollingParams, RollingUpdate
from changeover.rollout.steps import Analysis, Pause, SetWeight, Step

from ._drive import FakeRuns, drive
from ._sim import Behaviour, World, seeded

WORLD = seeded({1: Behaviour(), 2: Behaviour(ready_after=(1,))}, stable=1, count=2)
SIZES = {"replicas": 2, "stable_replicas": 2, "min_ready": 0.0, "progress_deadline": 30.0}


def canary(*steps: Step, background: str | None = None) -> Canary:
    params = CanaryParams(**SIZES, steps=steps, background_analysis=background)  # type: ignore[arg-type]
    return Canary(1, 2, params, 0.0)


def bluegreen(**kw: object) -> BlueGreen:
    return BlueGreen(1, 2, BlueGreenParams(**{**SIZES, **kw}), 0.0)  # type: ignore[arg-type]


def paused(machine: Core, world: World = WORLD, runs: FakeRuns | None = None) -> Decision:
    """The first PAUSED decision the machine makes on its own."""
    _, ds = drive(machine, world, runs, until=lambda d: d.phase is Phase.PAUSED)
    return ds[-1]


def test_a_canary_step_waiting_for_promote() -> None:
    machine = canary(SetWeight(10), Pause(None), SetWeight(100))
    hold = paused(machine).hold
    assert hold == Hold(PausedBy.STEP, "step 2/3: pause until promote")
    assert hold.proceed == (Command.PROMOTE,)
    machine.command(Promoted(), 50.0)
    _, ds = drive(machine, WORLD)
    assert ds[0].phase is Phase.PROGRESSING
    assert ds[0].hold is None


def test_a_blue_green_preview_waiting_for_promote() -> None:
    hold = paused(bluegreen(auto_promote=False)).hold
    assert hold == Hold(PausedBy.STEP, "preview revision 2 is ready")
    assert hold.proceed == (Command.PROMOTE,)


@pytest.mark.parametrize(
    "machine",
    [
        lambda: RollingUpdate(1, 2, RollingParams(2, 1, 0, 0.0, 30.0), 0.0),
        lambda: canary(SetWeight(50)),
        lambda: bluegreen(),
    ],
    ids=["rolling", "canary", "blue-green"],
)
def test_an_operator_pause_names_who_and_resume(machine: object) -> None:
    m: Core = machine()  # type: ignore[operator]
    m.command(Paused("alice"), 0.0)
    hold = drive(m, WORLD, until=lambda d: True)[1][-1].hold
    assert hold == Hold(PausedBy.OPERATOR, "paused by alice")
    assert hold.proceed == (Command.RESUME,)
    m.command(Resumed(), 1.0)
    assert m.hold is None


def test_an_inconclusive_canary_analysis_step() -> None:
    runs = FakeRuns({"step-1": (RunState.INCONCLUSIVE, 1.0)})
    hold = paused(canary(SetWeight(20), Analysis("slo"), SetWeight(100)), runs=runs).hold
    assert hold == Hold(PausedBy.ANALYSIS, "analysis 'slo' inconclusive")
    assert hold.proceed == (Command.PROMOTE,)


def test_an_inconclusive_pre_promotion_analysis() -> None:
    runs = FakeRuns({"pre-promotion": (RunState.INCONCLUSIVE, 1.0)})
    hold = paused(bluegreen(pre_promotion_analysis="smoke"), runs=runs).hold
    assert hold == Hold(PausedBy.ANALYSIS, "pre-promotion analysis inconclusive")


def test_an_inconclusive_background_analysis_takes_over_an_operator_pause() -> None:
    runs = FakeRuns({"background": (RunState.INCONCLUSIVE, 3.0)})
    machine = canary(SetWeight(10), Pause(60.0), SetWeight(100), background="bg")
    world, _ = drive(machine, WORLD, runs, until=lambda d: bool(d.analyses))
    machine.command(Paused(), world.now)
    _, ds = drive(machine, world, runs, until=lambda d: d.hold and d.hold.by is PausedBy.ANALYSIS)
    assert ds[0].hold == Hold(PausedBy.OPERATOR, "paused by operator")
    assert ds[-1].hold == Hold(PausedBy.ANALYSIS, "background analysis inconclusive")
    assert all(d.phase is Phase.PAUSED for d in ds)


@pytest.mark.parametrize(
    "machine",
    [
        lambda: canary(SetWeight(10), Pause(None), Pause(2.0), SetWeight(100)),
        lambda: bluegreen(auto_promote=False),
    ],
    ids=["canary", "blue-green"],
)
def test_only_paused_decisions_hold(machine: object) -> None:
    m: Core = machine()  # type: ignore[operator]
    m.command(Paused(), 0.0)
    world, ds = drive(m, WORLD, until=lambda d: d.phase is Phase.PAUSED)
    m.command(Resumed(), world.now)
    world, more = drive(m, world, until=lambda d: d.phase is Phase.PAUSED and d.hold is not None)
    m.command(Promoted(), world.now)
    _, rest = drive(m, world)
    ds += more + rest
    assert {d.phase for d in ds} == {Phase.PAUSED, Phase.PROGRESSING, Phase.SUCCEEDED}
    assert {d.hold.by for d in ds if d.hold} == {PausedBy.OPERATOR, PausedBy.STEP}
    for d in ds:
        assert (d.hold is not None) == (d.phase is Phase.PAUSED), d
