"""Blue-green strategy scenarios on a fake clock and a fake supervisor."""

from __future__ import annotations

from dataclasses import replace

import pytest

from changeover.rollout.bluegreen import BlueGreen, BlueGreenParams
from changeover.rollout.decision import CommandRefused, Decision, Notice, RunState
from changeover.rollout.events import AbortRequested, Promoted, Resumed
from changeover.rollout.phase import Phase

from ._drive import FakeRuns, drive
from ._sim import Behaviour, seeded

WORLD = seeded({1: Behaviour(), 2: Behaviour(ready_after=(1, 2, 3))}, stable=1, count=3)


def params(**kw: object) -> BlueGreenParams:
    base: dict[str, object] = {
        "replicas": 3,
        "stable_replicas": 3,
        "min_ready": 0.0,
        "progress_deadline": 30.0,
        "scale_down_delay": 30.0,
    }
    return BlueGreenParams(**{**base, **kw})  # type: ignore[arg-type]


def active(d: Decision) -> list[int]:
    assert d.traffic.weights is not None
    return [rev for rev, w in d.traffic.weights.items() if w]


def test_switches_all_traffic_at_once_when_the_whole_preview_is_ready() -> None:
    _, ds = drive(BlueGreen(1, 2, params(), 0.0), WORLD)
    switch = next(i for i, d in enumerate(ds) if active(d) == [2])
    assert all(active(d) == [1] and d.traffic.preview == 2 for d in ds[:switch])
    assert all(d.scale == {1: 3, 2: 3} for d in ds)  # the old revision stays warm
    last = ds[-1]
    assert last.phase is Phase.SUCCEEDED
    assert active(last) == [2]
    assert dict(last.linger) == {1: pytest.approx(switch + 30.0)}
    assert Notice.PROMOTED in last.notices or any(Notice.PROMOTED in d.notices for d in ds)


def test_manual_promotion_pauses_until_promote() -> None:
    machine = BlueGreen(1, 2, params(auto_promote=False), 0.0)
    world, ds = drive(machine, WORLD, until=lambda d: d.phase is Phase.PAUSED)
    assert active(ds[-1]) == [1]
    machine.command(Promoted(), 10.0)
    _, ds = drive(machine, world)
    assert active(ds[0]) == [2]
    assert ds[-1].phase is Phase.SUCCEEDED


def test_auto_promote_delay() -> None:
    _, ds = drive(BlueGreen(1, 2, params(auto_promote_delay=5.0), 0.0), WORLD)
    ready = next(i for i, d in enumerate(ds) if any("is ready" in e for e in d.events))
    switch = next(i for i, d in enumerate(ds) if active(d) == [2])
    assert switch - ready == 5


def test_failed_pre_promotion_analysis_never_switches() -> None:
    runs = FakeRuns({"pre-promotion": (RunState.FAILED, 2.0)})
    _, ds = drive(BlueGreen(1, 2, params(pre_promotion_analysis="smoke"), 0.0), WORLD, runs)
    assert all(active(d) == [1] for d in ds)
    assert ds[-1].phase is Phase.FAILED
    assert ds[-1].scale == {1: 3, 2: 0}
    assert "pre-promotion analysis failed" in ds[-1].reason


def test_failed_post_promotion_analysis_switches_back_in_one_decision() -> None:
    runs = FakeRuns({"post-promotion": (RunState.FAILED, 3.0)})
    _, ds = drive(BlueGreen(1, 2, params(post_promotion_analysis="slo"), 0.0), WORLD, runs)
    back = next(i for i, d in enumerate(ds) if d.phase is Phase.ROLLING_BACK)
    assert active(ds[back - 1]) == [2]
    assert active(ds[back]) == [1]
    assert ds[back].scale == {1: 3, 2: 0}
    assert ds[-1].phase is Phase.FAILED


def test_inconclusive_pre_analysis_pauses_and_promote_switches() -> None:
    runs = FakeRuns({"pre-promotion": (RunState.INCONCLUSIVE, 1.0)})
    machine = BlueGreen(1, 2, params(pre_promotion_analysis="smoke"), 0.0)
    world, ds = drive(machine, WORLD, runs, until=lambda d: d.phase is Phase.PAUSED)
    with pytest.raises(CommandRefused, match="inconclusive"):
        machine.command(Resumed(), 9.0)
    machine.command(Promoted(), 9.0)
    _, ds = drive(machine, world, runs)
    assert ds[-1].phase is Phase.SUCCEEDED


def test_abort_before_the_switch() -> None:
    machine = BlueGreen(1, 2, params(auto_promote=False), 0.0)
    world, _ = drive(machine, WORLD, until=lambda d: d.phase is Phase.PAUSED)
    machine.command(AbortRequested(), 10.0)
    _, ds = drive(machine, world)
    assert active(ds[0]) == [1]
    assert ds[-1].phase is Phase.ABORTED
    assert ds[-1].reason == "aborted by operator"


def test_events_and_reason_name_who_sent_the_command() -> None:
    machine = BlueGreen(1, 2, params(auto_promote=False), 0.0)
    world, _ = drive(machine, WORLD, until=lambda d: d.phase is Phase.PAUSED)
    assert machine.command(Promoted("ci"), 10.0) == "promotion requested by ci"
    _, ds = drive(machine, world)
    assert ds[-1].phase is Phase.SUCCEEDED
    aborted = BlueGreen(1, 2, params(auto_promote=False), 0.0)
    drive(aborted, WORLD, until=lambda d: d.phase is Phase.PAUSED)
    message = aborted.command(AbortRequested("verify (--max-wait 3s)"), 10.0)
    assert message == "rollout aborted by verify (--max-wait 3s): traffic back to stable"


def test_an_already_ready_target_switches_in_the_first_decision() -> None:
    world = seeded({1: Behaviour(), 2: Behaviour()}, stable=2, count=3)
    warm = tuple(replace(r, id=f"r1-{i}", revision=1) for i, r in enumerate(world.replicas, 1))
    world = replace(world, replicas=world.replicas + warm)
    _, ds = drive(BlueGreen(2, 1, params(), 0.0), world)
    assert active(ds[0]) == [1]  # undo to a warm revision: instant
    assert ds[0].phase is Phase.SUCCEEDED
