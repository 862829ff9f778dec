"""The guard window after every strategy's success, and alerts that roll back.

Each strategy with `guard` set opens GUARDING where it would have succeeded; the window
passes only once it is over and its analysis succeeded; a failed analysis, an alert or a
crash-looping target rolls back; an inconclusive analysis holds it for a person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from changeover.rollout.bluegreen import BlueGreen, BlueGreenParams
from changeover.rollout.canary import Canary, CanaryParams
from changeover.rollout.decision import (
    CommandRefused,
    Decision,
    GuardState,
    Notice,
    RunState,
    Traffic,
)
from changeover.rollout.events import AbortRequested, AlertFired, Paused, Promoted
from changeover.rollout.guard import KEY, GuardParams
from changeover.rollout.phase import EVENT_TRIGGERED_TRANSITIONS as TABLE
from changeover.rollout.phase import Phase
from changeover.rollout.rolling import RollingParams, RollingUpdate
from changeover.rollout.steps import SetWeight
from changeover.supervisor.state import ReplicaState

from ._drive import FakeRuns, drive
from ._sim import Behaviour, World, apply, observe, seeded, tick, total_available

HEALTHY = seeded({1: Behaviour(), 2: Behaviour(ready_after=(1,))}, stable=1, count=2)
SIZES = {"replicas": 2, "stable_replicas": 2, "min_ready": 0.0, "progress_deadline": 30.0}
Machine = RollingUpdate | Canary | BlueGreen
WATCH = GuardParams(window=10.0, analysis="slo")
ALERT = AlertFired('HighErrorRatio{revision="2"}', "alert HighErrorRatio firing")


def rolling(guard: GuardParams | None = WATCH) -> Machine:
    return RollingUpdate(1, 2, RollingParams(2, 1, 0, 0.0, 30.0, guard=guard), 0.0)


def canary(guard: GuardParams | None = WATCH) -> Machine:
    params = CanaryParams(**SIZES, steps=(SetWeight(50),), guard=guard)  # type: ignore[arg-type]
    return Canary(1, 2, params, 0.0)


def bluegreen(guard: GuardParams | None = WATCH) -> Machine:
    return BlueGreen(1, 2, BlueGreenParams(**SIZES, guard=guard), 0.0)  # type: ignore[arg-type]


STRATEGIES: dict[str, Callable[..., Machine]] = {
    "rolling": rolling,
    "canary": canary,
    "blue-green": bluegreen,
}
each = pytest.mark.parametrize("make", STRATEGIES.values(), ids=list(STRATEGIES))
progressive = pytest.mark.parametrize("make", [canary, bluegreen], ids=["canary", "blue-green"])


def guarding(machine: Machine, runs: FakeRuns | None = None) -> tuple[World, list[Decision]]:
    """Drive to the decision that opens the window."""
    return drive(machine, HEALTHY, runs, until=lambda d: d.phase is Phase.GUARDING)


def ticks(
    machine: Machine, world: World, runs: FakeRuns, n: int, previous: Decision | None = None
) -> tuple[World, list[Decision]]:
    """Exactly `n` steps, whatever happens (`drive` stops at an end)."""
    decisions: list[Decision] = []
    for _ in range(n):
        world = tick(world)
        decision = machine.step(observe(world), world.now, runs.observe(previous, world.now))
        world, previous = apply(world, decision), decision
        decisions.append(decision)
    return world, decisions


@each
def test_success_opens_the_window_and_it_passes_once_over_with_its_analysis(
    make: Callable[..., Machine],
) -> None:
    machine, runs = make(), FakeRuns({KEY: (RunState.SUCCESSFUL, 12.0)})
    world, ds = guarding(machine, runs)
    opened = ds[-1]
    assert opened.guard is not None
    assert opened.guard.state is GuardState.WATCHING
    assert (opened.guard.window, opened.guard.analysis) == (10.0, "slo")
    assert Notice.GUARDING in opened.notices
    assert any("guard window of 10s begins, analysis 'slo'" in e for e in opened.events)
    (request,) = opened.analyses
    assert (request.key, request.template, request.canary, request.baseline) == (KEY, "slo", 2, 1)
    assert request.span == 10.0
    assert request.baseline_history
    start = world.now
    world, rest = drive(machine, world, runs)
    assert rest[-1].phase is Phase.SUCCEEDED
    assert rest[-1].guard is None
    assert any("guard window of 10s passed" in e for e in rest[-1].events)
    assert all(d.phase is Phase.GUARDING for d in rest[:-1])
    # over after 10 s, but the analysis said so only after 12 s: its verdict decides
    assert world.now - start >= 12.0


@each
def test_without_an_analysis_the_window_passes_when_it_is_over(
    make: Callable[..., Machine],
) -> None:
    machine = make(GuardParams(window=5.0))
    world, ds = guarding(machine)
    assert ds[-1].analyses == ()
    start = world.now
    world, rest = drive(machine, world)
    assert rest[-1].phase is Phase.SUCCEEDED
    assert world.now - start == pytest.approx(5.0)


@each
def test_no_guard_means_success_as_before(make: Callable[..., Machine]) -> None:
    _, ds = drive(make(None), HEALTHY)
    assert ds[-1].phase is Phase.SUCCEEDED
    assert all(d.guard is None and d.phase is not Phase.GUARDING for d in ds)


@progressive
def test_progressive_strategies_keep_the_stable_warm_and_idle_in_the_window(
    make: Callable[..., Machine],
) -> None:
    machine = make()
    world, ds = guarding(machine)
    world, rest = ticks(machine, world, FakeRuns({KEY: (RunState.RUNNING, 99.0)}), 5, ds[-1])
    for d in (ds[-1], *rest):
        assert d.phase is Phase.GUARDING
        assert d.scale == {1: 2, 2: 2}
        assert d.traffic == Traffic(weights={1: 0, 2: 100})


def test_a_rolling_update_has_no_stable_left_in_the_window() -> None:
    _, ds = guarding(rolling())
    assert ds[-1].scale == {1: 0, 2: 2}
    assert ds[-1].traffic == Traffic()


@each
def test_a_failed_guard_analysis_rolls_back(make: Callable[..., Machine]) -> None:
    machine, runs = make(), FakeRuns({KEY: (RunState.FAILED, 3.0)})
    world, _ = guarding(machine, runs)
    _, rest = drive(machine, world, runs)
    failing = next(d for d in rest if d.phase is Phase.ROLLING_BACK)
    assert failing.reason == "guard analysis 'slo' failed: guard failed"
    assert "rolling back to revision 1" in failing.events
    assert rest[-1].phase is Phase.FAILED
    assert (rest[-1].scale[1], rest[-1].scale[2]) == (2, 0)


@progressive
def test_a_progressive_rollback_in_the_window_is_one_traffic_switch(
    make: Callable[..., Machine],
) -> None:
    machine, runs = make(), FakeRuns({KEY: (RunState.ERROR, 3.0)})
    world, _ = guarding(machine, runs)
    _, rest = drive(machine, world, runs)
    failing = next(d for d in rest if d.phase is Phase.ROLLING_BACK)
    assert failing.traffic == Traffic(weights={1: 100})
    assert failing.reason.startswith("guard analysis 'slo' error")


def test_a_rolling_rollback_in_the_window_keeps_the_target_serving_until_the_stable_is_back() -> (
    None
):
    machine, runs = rolling(), FakeRuns({KEY: (RunState.FAILED, 3.0)})
    world, ds = guarding(machine, runs)
    slow = replace(world, behaviours={1: Behaviour(ready_after=(3,)), 2: Behaviour()})
    seen = []
    previous = ds[-1]
    while not machine.phase.terminal:
        slow, (previous,) = ticks(machine, slow, runs, 1, previous)
        seen.append(total_available(slow, 0.0))
    assert machine.phase is Phase.FAILED
    assert min(seen) >= 2  # the stable boots again while the target's ready replicas serve


@each
def test_an_inconclusive_guard_analysis_holds_until_a_person_decides(
    make: Callable[..., Machine],
) -> None:
    machine, runs = make(), FakeRuns({KEY: (RunState.INCONCLUSIVE, 2.0)})
    world, _ = guarding(machine, runs)
    world, ds = drive(
        machine, world, runs, until=lambda d: d.guard is not None and d.guard.state.value == "held"
    )
    held = ds[-1]
    assert held.phase is Phase.GUARDING
    assert Notice.GUARD_HELD in held.notices
    assert held.guard is not None
    assert "`promote` accepts revision 2, `abort` rolls back to revision 1" in held.guard.message
    assert held.analyses == ()  # nothing runs while it holds
    world, later = ticks(machine, world, runs, 30, held)  # long past the window
    assert all(d.phase is Phase.GUARDING and not d.events for d in later)
    assert machine.command(Promoted("alice"), world.now) == (
        "guard window ended by alice (promote): revision 2 is stable"
    )
    _, end = drive(machine, world, runs)
    assert end[-1].phase is Phase.SUCCEEDED


@each
def test_abort_in_the_window_rolls_back_and_ends_aborted(make: Callable[..., Machine]) -> None:
    machine = make()
    world, _ = guarding(machine)
    assert machine.command(AbortRequested("bob"), world.now) == (
        "rollout aborted by bob in the guard window"
    )
    _, rest = drive(machine, world)
    assert rest[-1].phase is Phase.ABORTED
    assert rest[-1].reason == "aborted by bob"


@each
def test_commands_in_the_window_follow_the_table(make: Callable[..., Machine]) -> None:
    for event in (Paused("x"), Promoted("x", full=True), AbortRequested("x"), Promoted("x")):
        machine = make()
        world, _ = guarding(machine)
        accepted = TABLE.can(Phase.GUARDING, type(event))
        if not accepted:
            with pytest.raises(CommandRefused, match="cannot pause a rollout that is guarding"):
                machine.command(event, world.now)
            continue
        machine.command(event, world.now)
        assert machine.phase is TABLE.transition(Phase.GUARDING, type(event))


@each
def test_an_alert_in_the_window_rolls_back_naming_it(make: Callable[..., Machine]) -> None:
    machine = make()
    world, _ = guarding(machine)
    assert machine.alert(ALERT) == "rolling back to revision 1"
    assert machine.phase is Phase.GUARDING  # the next step carries it out
    _, rest = drive(machine, world)
    assert rest[0].phase is Phase.ROLLING_BACK
    assert rest[0].reason == "alert HighErrorRatio firing"
    assert rest[-1].phase is Phase.FAILED


@each
def test_an_alert_while_progressing_or_paused_rolls_back(make: Callable[..., Machine]) -> None:
    for pause in (False, True):
        machine = make(None)
        if pause:
            machine.command(Paused(), 0.0)
        machine.alert(ALERT)
        _, ds = drive(machine, HEALTHY)
        assert "rollout failed: alert HighErrorRatio firing" in ds[0].events
        assert ds[0].reason == "alert HighErrorRatio firing"
        assert ds[-1].phase is Phase.FAILED


def test_alerts_are_refused_where_nothing_can_roll_back() -> None:
    machine = rolling(None)
    drive(machine, HEALTHY)
    with pytest.raises(CommandRefused, match=r"^the rollout is succeeded: nothing to roll back$"):
        machine.alert(ALERT)
    first = RollingUpdate(None, 1, RollingParams(2, 1, 0, 0.0, 30.0, guard=WATCH), 0.0)
    with pytest.raises(CommandRefused, match="no stable revision to go back to"):
        first.alert(ALERT)
    twice = rolling()
    twice.alert(ALERT)
    with pytest.raises(CommandRefused, match=r"^already rolling back on alert HighErrorRatio"):
        twice.alert(ALERT)


def test_the_first_rollout_is_never_guarded() -> None:
    first = RollingUpdate(None, 1, RollingParams(2, 1, 0, 0.0, 30.0, guard=WATCH), 0.0)
    _, ds = drive(first, seeded({1: Behaviour()}, stable=None, count=0))
    assert ds[-1].phase is Phase.SUCCEEDED


@each
def test_a_target_failing_at_boot_in_the_window_rolls_back(make: Callable[..., Machine]) -> None:
    machine = make()
    world, _ = guarding(machine)
    # the target's replicas start crashing at boot: each restarts, and never gets ready
    replicas = tuple(
        replace(r, crash=True, state=ReplicaState.STARTING, ready_since=None, age=0)
        if r.revision == 2
        else r
        for r in world.replicas
    )
    crashing = World(world.now, {1: Behaviour(), 2: Behaviour(crash=True)}, replicas, world.spawned)
    _, rest = drive(machine, crashing)
    failing = next(d for d in rest if d.phase is Phase.ROLLING_BACK)
    assert "failed at boot 3 times" in failing.reason
    assert rest[-1].phase is Phase.FAILED
