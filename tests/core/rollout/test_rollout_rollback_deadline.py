"""The rollback deadline, on a fake clock: when the stable revision cannot come back, the
rollout ends FAILED with the revision that serves more kept (never zeroing the only one
serving), says so, and names the revision kept in its decision."""

from __future__ import annotations

from dataclasses import replace

import pytest

from changeover.rollout.bluegreen import BlueGreen, BlueGreenParams
from changeover.rollout.canary import Canary, CanaryParams
from changeover.rollout.decision import Decision, RunState
from changeover.rollout.events import AbortRequested
from changeover.rollout.giveup import give_up
from changeover.rollout.phase import Phase
from changeover.rollout.plan import Counts
from changeover.rollout.rolling import RollingParams, RollingUpdate
from changeover.rollout.steps import Analysis, SetWeight
from changeover.supervisor.state import ReplicaState

from ._drive import FakeRuns, drive
from ._sim import Behaviour, Check, World, apply, observe, run, seeded, tick, total_available

S = ReplicaState
CRASHES = Behaviour(crash=True)  # a stable revision that cannot start any more


def rolling(n: int, surge: int, unav: int, rollback: float | None = 20.0) -> RollingParams:
    return RollingParams(
        n, surge, unav, min_ready=0.0, progress_deadline=10.0, rollback_deadline=rollback
    )


def serving_floor(floor: int) -> Check:
    """A per-tick check: at least `floor` replicas serve, whatever revision they are of."""

    def check(before: World, after: World, d: Decision) -> None:
        assert total_available(after, 0.0) >= floor, (after.now, d)

    return check


def rolled_back_at(decisions: list[Decision]) -> int:
    return next(i for i, d in enumerate(decisions) if d.phase is Phase.ROLLING_BACK)


# --- rolling --------------------------------------------------------------------------
def test_rolling_keeps_the_ready_target_when_the_stable_cannot_come_back() -> None:
    # unavailability 1: the stable is scaled to zero once one target replica is ready; the
    # second never gets ready, so the rollout fails, and the stable's new replicas crash.
    world = seeded({1: CRASHES, 2: Behaviour(ready_after=(0, None))}, stable=1, count=2)
    machine = RollingUpdate(1, 2, rolling(2, 1, 1), started_at=0.0)
    end, ds = run(machine, world, serving_floor(1))
    final = ds[-1]
    assert final.phase is Phase.FAILED
    assert final.kept == 2
    assert final.scale == {1: 0, 2: 1}
    assert final.reason == (
        "progress deadline exceeded: no progress for 10s; rollback deadline exceeded: "
        "revision 1 did not come back within 20s (0 of 2 ready); revision 2 keeps serving "
        "with 1 ready replica and is now the stable revision; revision 1 is scaled to zero"
    )
    assert final.events[0] == final.reason.partition("; ")[2]
    assert "scaled revision 1 down to 0" in final.events
    assert [r.id for r in end.replicas if r.state is S.READY] == ["r2-1"]
    # the deadline runs from the first decision made while rolling back, exclusive
    began = rolled_back_at(ds)
    assert len(ds) - 1 - began == 21
    assert all(d.kept is None for d in ds[:-1])


def test_the_stable_is_kept_on_a_tie_and_keeps_restarting_what_is_missing() -> None:
    # no unavailability: one stable replica stays; one target replica is ready
    world = seeded({1: CRASHES, 2: Behaviour(ready_after=(0, None))}, stable=1, count=2)
    machine = RollingUpdate(1, 2, rolling(2, 1, 0), started_at=0.0)
    _, ds = run(machine, world, serving_floor(1))
    final = ds[-1]
    assert (final.phase, final.kept, final.scale) == (Phase.FAILED, 1, {1: 2, 2: 0})
    assert final.reason.endswith(
        "revision 1 did not come back within 20s (1 of 2 ready); revision 1 keeps serving, "
        "stays stable and keeps restarting the rest; revision 2 (1 ready) is scaled to zero"
    )


def test_nothing_serving_is_said_plainly_and_the_stable_stays() -> None:
    # one replica, unavailability 1: the stable goes first, the target crashes at boot
    world = seeded({1: CRASHES, 2: CRASHES}, stable=1, count=1)
    machine = RollingUpdate(1, 2, rolling(1, 0, 1, rollback=5.0), started_at=0.0)
    _, ds = run(machine, world)
    final = ds[-1]
    assert (final.phase, final.kept, final.scale) == (Phase.FAILED, 1, {1: 1, 2: 0})
    assert final.reason.startswith("replica r2-1 failed at boot 3 times; rollback deadline")
    assert final.reason.endswith(
        "(0 of 1 ready); nothing is serving; revision 1 stays stable and keeps restarting"
    )


def test_the_rollback_deadline_defaults_to_the_progress_deadline() -> None:
    world = seeded({1: CRASHES, 2: Behaviour(ready_after=(0, None))}, stable=1, count=2)
    machine = RollingUpdate(1, 2, rolling(2, 1, 1, rollback=None), started_at=0.0)
    _, ds = run(machine, world)
    assert machine.rollback_deadline == 10.0
    assert len(ds) - 1 - rolled_back_at(ds) == 11
    assert "did not come back within 10s" in ds[-1].reason


def test_a_stable_back_before_the_deadline_ends_the_rollback_as_before() -> None:
    behaviours = {1: Behaviour(ready_after=(15,)), 2: Behaviour(ready_after=(0, None))}
    machine = RollingUpdate(1, 2, rolling(2, 1, 1), started_at=0.0)
    _, ds = run(machine, seeded(behaviours, stable=1, count=2), serving_floor(1))
    assert (ds[-1].phase, ds[-1].kept, ds[-1].scale) == (Phase.FAILED, None, {1: 2, 2: 0})
    assert ds[-1].reason == "progress deadline exceeded: no progress for 10s"


def test_an_aborted_rollout_whose_stable_cannot_come_back_ends_failed() -> None:
    world = seeded({1: CRASHES, 2: Behaviour(ready_after=(0, None))}, stable=1, count=2)
    machine = RollingUpdate(1, 2, rolling(2, 1, 1), started_at=0.0)
    for _ in range(3):  # the stable is scaled to zero, one target replica ready
        world = tick(apply_step(machine, world))
    machine.command(AbortRequested("ci"), world.now)
    _, ds = run(machine, world)
    # an abort takes the target out at once (as before): at the deadline nothing serves
    assert ds[0].scale == {1: 2, 2: 0}
    assert (ds[-1].phase, ds[-1].kept, ds[-1].scale) == (Phase.FAILED, 1, {1: 2, 2: 0})
    assert ds[-1].reason.startswith("aborted by ci; rollback deadline exceeded: revision 1")
    assert ds[-1].reason.endswith(
        "nothing is serving; revision 1 stays stable and keeps restarting"
    )


def test_the_end_state_is_stable_once_given_up() -> None:
    world = seeded({1: CRASHES, 2: Behaviour(ready_after=(0, None))}, stable=1, count=2)
    machine = RollingUpdate(1, 2, rolling(2, 1, 1), started_at=0.0)
    end, ds = run(machine, world)
    later = machine.step(observe(end), end.now + 1000)
    assert (later.phase, later.scale, later.kept, later.events) == (
        Phase.FAILED,
        ds[-1].scale,
        2,
        (),
    )


def apply_step(machine: RollingUpdate, world: World) -> World:
    return apply(world, machine.step(observe(world), world.now))


# --- canary and blue-green: the stable's replicas die under them ---------------------------
def machine_change(world: World, revision: int) -> World:
    """Every replica of `revision` crashes now and at each restart (its command broke)."""
    crashed = tuple(
        replace(r, state=S.BACKOFF, crash=True, ready_since=None) if r.revision == revision else r
        for r in world.replicas
    )
    behaviours = {**world.behaviours, revision: CRASHES}
    return replace(world, replicas=crashed, behaviours=behaviours)


def test_canary_keeps_the_canary_serving_when_the_stable_dies_during_rollback() -> None:
    params = CanaryParams(
        replicas=4,
        stable_replicas=4,
        min_ready=0.0,
        progress_deadline=30.0,
        rollback_deadline=15.0,
        steps=(SetWeight(50), Analysis("slo")),
    )
    machine = Canary(1, 2, params, 0.0)
    world = seeded({1: Behaviour(), 2: Behaviour()}, stable=1, count=4)
    world, _ = drive(machine, world, until=lambda d: d.step == 1)
    world = machine_change(tick(world), 1)
    runs = FakeRuns({"step-1": (RunState.FAILED, 1.0)})
    _, ds = drive(machine, world, runs)
    back = [d for d in ds if d.phase is Phase.ROLLING_BACK]
    assert back
    assert all(d.traffic.weights is None for d in back)  # every ready replica serves
    final = ds[-1]
    assert (final.phase, final.kept, final.scale) == (Phase.FAILED, 2, {1: 0, 2: 2})
    assert final.traffic.weights == {2: 100}
    assert final.reason.startswith("analysis 'slo' failed: step-1 failed; rollback deadline")
    assert "revision 2 keeps serving with 2 ready replicas and is now the stable" in final.reason


def test_blue_green_keeps_the_switched_revision_when_the_old_one_cannot_come_back() -> None:
    params = BlueGreenParams(
        replicas=2,
        stable_replicas=2,
        min_ready=0.0,
        progress_deadline=30.0,
        post_promotion_analysis="slo",
    )
    machine = BlueGreen(1, 2, params, 0.0)
    world = seeded({1: Behaviour(), 2: Behaviour()}, stable=1, count=2)
    world, _ = drive(machine, world, until=lambda d: d.traffic.weights == {2: 100})
    world = machine_change(tick(world), 1)
    runs = FakeRuns({"post-promotion": (RunState.FAILED, 1.0)})
    _, ds = drive(machine, world, runs)
    back = rolled_back_at(ds)
    final = ds[-1]
    assert len(ds) - 1 - back == 31  # the default: progress_deadline
    assert (final.phase, final.kept, final.scale) == (Phase.FAILED, 2, {1: 0, 2: 2})
    assert final.traffic.weights == {2: 100}
    assert "revision 1 did not come back within 30s (0 of 2 ready)" in final.reason


@pytest.mark.parametrize(
    ("old_ready", "new_ready", "kept", "scale"),
    [
        (0, 1, 2, {1: 0, 2: 1}),
        (1, 1, 1, {1: 3, 2: 0}),
        (2, 1, 1, {1: 3, 2: 0}),
        (0, 0, 1, {1: 3, 2: 0}),
    ],
)
def test_the_revision_with_more_ready_replicas_is_kept(
    old_ready: int, new_ready: int, kept: int, scale: dict[int, int]
) -> None:
    c = Counts(old_ready, old_ready, old_ready, new_ready + 1, new_ready, new_ready)
    end = give_up(c, stable=1, target=2, restore=3, deadline=60.0)
    assert (end.kept, end.scale) == (kept, scale)
    assert end.message.startswith(
        f"rollback deadline exceeded: revision 1 did not come back within 60s ({old_ready} of 3"
    )
