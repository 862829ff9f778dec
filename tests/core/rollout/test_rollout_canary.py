"""Canary strategy scenarios on a fake clock and a fake supervisor."""

from __future__ import annotations

import pytest

from changeover.rollout.canary import Canary, CanaryParams
from changeover.rollout.core import PausedBy
from changeover.rollout.decision import CommandRefused, Decision, Notice, RunState
from changeover.rollout.events import AbortRequested, Paused, Promoted, Resumed
from changeover.rollout.phase import Phase
from changeover.rollout.steps import (
    Analysis,
    CanaryScale,
    HeaderRoute,
    Pause,
    SetCanaryScale,
    SetHeaderRoute,
    SetWeight,
    Step,
)

from ._drive import FakeRuns, drive
from ._sim import Behaviour, seeded


def params(*steps: Step, n: int = 4, background: str | None = None, **kw: object) -> CanaryParams:
    return CanaryParams(
        replicas=n,
        stable_replicas=n,
        min_ready=0.0,
        progress_deadline=kw.pop("deadline", 30.0),  # type: ignore[arg-type]
        steps=steps,
        background_analysis=background,
        sticky=kw.pop("sticky", None),  # type: ignore[arg-type]
    )


W = SetWeight
UNTIL_PROMOTE = Pause(None)
WORLD = seeded({1: Behaviour(), 2: Behaviour(ready_after=(1,))}, stable=1, count=4)


def weights(d: Decision) -> dict[int, int] | None:
    return None if d.traffic.weights is None else dict(d.traffic.weights)


def test_weights_10_50_100_with_stable_kept_full_until_the_switch() -> None:
    machine = Canary(1, 2, params(W(10), W(50), W(100)), 0.0)
    _, ds = drive(machine, WORLD)
    seen = [weights(d) for d in ds]
    first = {i for i, w in enumerate(seen) if w == {1: 90, 2: 10}}
    assert first
    assert seen[0] == {1: 100, 2: 0}
    assert {1: 50, 2: 50} in seen
    assert {1: 0, 2: 100} in seen
    for d in ds:
        if d.phase is Phase.PROGRESSING and weights(d) != {1: 0, 2: 100}:
            assert d.scale[1] == 4  # stable untouched while it still takes traffic
    assert ds[-1].phase is Phase.SUCCEEDED
    assert ds[-1].scale == {1: 0, 2: 4}
    assert ds[-1].traffic.weights is None
    assert any("step 2/3: set_weight 50%" in e for d in ds for e in d.events)


def test_a_weight_waits_for_the_canary_replicas_it_needs() -> None:
    world = seeded({1: Behaviour(), 2: Behaviour(ready_after=(3,))}, stable=1, count=4)
    _, ds = drive(
        Canary(1, 2, params(W(50)), 0.0), world, until=lambda d: weights(d) == {1: 50, 2: 50}
    )
    assert [d.scale[2] for d in ds[:2]] == [2, 2]  # ceil(4 * 50%) replicas first
    assert all(weights(d) == {1: 100, 2: 0} for d in ds[:-1])


def test_analysis_step_gates_and_a_failure_restores_stable_traffic_at_once() -> None:
    runs = FakeRuns({"step-1": (RunState.FAILED, 3.0)})
    machine = Canary(1, 2, params(W(20), Analysis("slo"), W(60)), 0.0)
    _, ds = drive(machine, WORLD, runs)
    failed_at = next(i for i, d in enumerate(ds) if d.phase is Phase.ROLLING_BACK)
    assert weights(ds[failed_at - 1]) == {1: 80, 2: 20}
    assert weights(ds[failed_at]) == {1: 100}  # the same decision moves traffic back
    assert ds[failed_at].scale == {1: 4, 2: 0}
    assert ds[-1].phase is Phase.FAILED
    assert "analysis 'slo' failed: step-1 failed" in ds[-1].reason
    assert all(w != {1: 40, 2: 60} for w in map(weights, ds))
    assert any(a.key == "step-1" and a.template == "slo" for d in ds for a in d.analyses)


def test_inconclusive_analysis_pauses_and_promote_accepts_it() -> None:
    runs = FakeRuns({"step-0": (RunState.INCONCLUSIVE, 1.0)})
    machine = Canary(1, 2, params(Analysis("slo"), W(100)), 0.0)
    _, ds = drive(machine, WORLD, runs, until=lambda d: d.phase is Phase.PAUSED)
    with pytest.raises(CommandRefused, match="promote"):
        machine.command(Resumed(), 10.0)
    _, ds = drive(machine, WORLD, runs, commands={0: Promoted()})
    assert ds[-1].phase is Phase.SUCCEEDED


def test_timed_pause_waits_and_an_operator_pause_stops_its_clock() -> None:
    machine = Canary(1, 2, params(W(10), Pause(5.0), W(100)), 0.0)
    _, ds = drive(machine, WORLD, commands={4: Paused(), 9: Resumed()})
    ten = [i for i, d in enumerate(ds) if weights(d) == {1: 90, 2: 10}]
    # canary ready at t=2, pause from t=2: 5 s plus the 5 s spent paused by the operator
    assert ten[-1] - ten[0] >= 9
    assert any(d.phase is Phase.PAUSED for d in ds)
    assert ds[-1].phase is Phase.SUCCEEDED


def test_pause_until_promote() -> None:
    machine = Canary(1, 2, params(W(10), UNTIL_PROMOTE, W(100)), 0.0)
    _, ds = drive(machine, WORLD, until=lambda d: d.phase is Phase.PAUSED)
    assert weights(ds[-1]) == {1: 90, 2: 10}
    assert machine.command(Promoted(), 100.0)
    assert machine.phase is Phase.PROGRESSING
    assert machine.index == 2


def test_abort_sends_traffic_to_stable_in_the_next_decision() -> None:
    machine = Canary(1, 2, params(W(30), UNTIL_PROMOTE), 0.0)
    world, _ = drive(machine, WORLD, until=lambda d: d.phase is Phase.PAUSED)
    assert "aborted by verify" in machine.command(AbortRequested("verify"), 50.0)
    _, ds = drive(machine, world)
    assert ds[-1].reason == "aborted by verify"
    assert weights(ds[0]) == {1: 100}
    assert ds[0].scale == {1: 4, 2: 0}
    assert ds[-1].phase is Phase.ABORTED
    with pytest.raises(CommandRefused, match="aborted"):
        machine.command(Promoted(), 60.0)


def test_promote_full_skips_every_remaining_step() -> None:
    machine = Canary(1, 2, params(W(10), UNTIL_PROMOTE, W(50), Analysis("x")), 0.0)
    _, ds = drive(machine, WORLD, commands={1: Promoted(full=True)})
    assert ds[-1].phase is Phase.SUCCEEDED
    assert not any(a.key.startswith("step") for d in ds for a in d.analyses)


def test_header_route_needs_one_canary_replica_and_routes_to_it() -> None:
    route = HeaderRoute(header="x-canary", value="1")
    machine = Canary(1, 2, params(SetHeaderRoute(route), UNTIL_PROMOTE), 0.0)
    _, ds = drive(machine, WORLD, until=lambda d: d.phase is Phase.PAUSED)
    last = ds[-1]
    assert last.scale[2] == 1
    assert weights(last) == {1: 100, 2: 0}
    assert last.traffic.header_route == route
    assert last.traffic.header_revision == 2


def test_set_canary_scale_overrides_the_replica_count() -> None:
    scale = SetCanaryScale(CanaryScale(replicas=3))
    machine = Canary(1, 2, params(scale, W(10), UNTIL_PROMOTE), 0.0)
    _, ds = drive(machine, WORLD, until=lambda d: d.phase is Phase.PAUSED)
    assert ds[-1].scale == {1: 4, 2: 3}
    assert weights(ds[-1]) == {1: 90, 2: 10}


def test_background_analysis_runs_once_the_canary_has_traffic_and_can_fail_it() -> None:
    runs = FakeRuns({"background": (RunState.FAILED, 4.0)})
    machine = Canary(1, 2, params(Pause(1.0), W(10), Pause(60.0), background="bg"), 0.0)
    _, ds = drive(machine, WORLD, runs)
    requested = [i for i, d in enumerate(ds) if any(a.key == "background" for a in d.analyses)]
    assert requested
    assert all(weights(ds[i]) == {1: 90, 2: 10} for i in requested)
    assert ds[-1].phase is Phase.FAILED
    assert "background analysis failed" in ds[-1].reason


def test_crash_at_boot_fails_without_touching_stable_traffic() -> None:
    world = seeded({1: Behaviour(), 2: Behaviour(crash=True)}, stable=1, count=2)
    _, ds = drive(Canary(1, 2, params(W(50), n=2), 0.0), world)
    assert ds[-1].phase is Phase.FAILED
    assert "failed at boot 3 times" in ds[-1].reason
    assert all(weights(d) in ({1: 100, 2: 0}, {1: 100}) for d in ds)


def test_progress_deadline_while_waiting_for_canary_replicas() -> None:
    world = seeded({1: Behaviour(), 2: Behaviour(ready_after=(None,))}, stable=1, count=2)
    _, ds = drive(Canary(1, 2, params(W(50), n=2, deadline=5.0), 0.0), world)
    assert ds[-1].phase is Phase.FAILED
    assert "progress deadline" in ds[-1].reason


@pytest.mark.parametrize("command", [Resumed(), Promoted()])
def test_commands_refused_when_they_do_not_apply(command: Resumed | Promoted) -> None:
    machine = Canary(1, 2, params(W(10)), 0.0)
    if isinstance(command, Resumed):
        with pytest.raises(CommandRefused, match="progressing"):
            machine.command(command, 0.0)
    else:
        drive(machine, WORLD)
        with pytest.raises(CommandRefused, match="succeeded"):
            machine.command(command, 0.0)


def test_notices_come_with_what_they_announce() -> None:
    steps = (W(10), UNTIL_PROMOTE, W(50), Pause(2.0), W(100))
    machine = Canary(1, 2, params(*steps), 0.0)
    world, first = drive(machine, WORLD, until=lambda d: d.phase is Phase.PAUSED)
    machine.command(Promoted(), world.now)
    _, rest = drive(machine, world, commands={3: Promoted()})
    ds = first + rest
    for d in ds:
        assert (Notice.STEP in d.notices) == any(e.startswith("step") for e in d.events), d
        assert (Notice.PROMOTED in d.notices) == any(e.startswith("promoted") for e in d.events)
    assert sum(Notice.PROMOTED in d.notices for d in ds) == 1
    assert any("skipped by operator" in e for d in ds for e in d.events)


def test_background_inconclusive_during_a_pause_holds_the_rollout_for_promote() -> None:
    """Fixed: this pause-on-pause used to raise IllegalTransition and stop the agent."""
    runs = FakeRuns({"background": (RunState.INCONCLUSIVE, 3.0)})
    machine = Canary(1, 2, params(W(10), Pause(60.0), W(100), background="bg"), 0.0)
    world, _ = drive(machine, WORLD, runs, until=lambda d: bool(d.analyses))
    assert machine.command(Paused(), world.now) == "rollout paused by operator"
    world, ds = drive(machine, world, runs, until=lambda d: "promote or abort" in str(d.events))
    assert ds[0].events == ("rollout paused by operator",)
    assert ds[-1].events == ("rollout paused: background analysis inconclusive; promote or abort",)
    assert ds[-1].phase is Phase.PAUSED
    assert machine.paused_by is PausedBy.ANALYSIS
    with pytest.raises(CommandRefused, match="`promote` accepts it"):
        machine.command(Resumed(), world.now)
    reply = machine.command(Promoted(), world.now)
    assert reply == "inconclusive background analysis accepted by operator"
    _, ds = drive(machine, world, runs)
    assert ds[-1].phase is Phase.SUCCEEDED
    assert not any(a.key == "background" for d in ds for a in d.analyses)
