"""Scenario tests of the rolling update, driven through the fake supervisor."""

from __future__ import annotations

import pytest

from changeover.rollout.decision import Decision
from changeover.rollout.events import AbortRequested, Paused
from changeover.rollout.phase import Phase
from changeover.rollout.rolling import RollingParams, RollingUpdate

from ._sim import Behaviour, Check, World, observe, run, seeded, total_available, total_live


def params(
    n: int, surge: int, unav: int, *, min_ready: float = 0.0, deadline: float = 30.0
) -> RollingParams:
    return RollingParams(n, surge, unav, min_ready=min_ready, progress_deadline=deadline)


def bounded(floor: int, ceiling: int, min_ready: float = 0.0) -> Check:
    """A per-tick check: availability never below `floor`, live never above `ceiling`."""

    def check(before: World, after: World, d: Decision) -> None:
        assert total_available(after, min_ready) >= floor, (after.now, d)
        assert total_live(after) <= ceiling, (after.now, d)

    return check


def live_of(world: World, rev: int) -> int:
    return sum(1 for r in world.replicas if r.revision == rev and r.state.name != "DRAINING")


@pytest.mark.parametrize(
    ("n", "surge", "unav"),
    [(3, 1, 0), (3, 0, 1), (4, 1, 1), (5, 2, 0), (1, 0, 1), (1, 1, 0)],
)
def test_rolling_keeps_availability_and_surge_bounds(n: int, surge: int, unav: int) -> None:
    world = seeded({1: Behaviour(), 2: Behaviour(ready_after=(2, 0, 3))}, stable=1, count=n)
    machine = RollingUpdate(1, 2, params(n, surge, unav), started_at=0.0)
    end, decisions = run(machine, world, bounded(n - unav, n + surge))
    assert decisions[-1].phase is Phase.SUCCEEDED
    assert decisions[-1].scale == {1: 0, 2: n}
    assert total_available(end, 0.0) == n
    assert live_of(end, 1) == 0


def test_surge_zero_scales_stable_down_before_target_up() -> None:
    world = seeded({2: Behaviour()}, stable=1, count=3)
    first = RollingUpdate(1, 2, params(3, 0, 1), 0.0).step(observe(world), 0.0, {})
    assert first.scale == {1: 2, 2: 1}
    assert first.events == ("scaled revision 1 down to 2", "scaled revision 2 up to 1")


def test_min_ready_delays_counting_a_replica_as_available() -> None:
    world = seeded({2: Behaviour(ready_after=(0,))}, stable=1, count=1)
    machine = RollingUpdate(1, 2, params(1, 1, 0, min_ready=5.0), 0.0)
    end, decisions = run(machine, world, bounded(1, 2, min_ready=5.0))
    # target READY at t=1 but only available at t=6: the stable stays until then
    scaled_down_at = next(i for i, d in enumerate(decisions) if d.scale[1] == 0)
    assert scaled_down_at == 6
    assert decisions[-1].phase is Phase.SUCCEEDED
    assert end.now == 7.0


def test_never_ready_target_fails_at_deadline_and_rolls_back() -> None:
    world = seeded({1: Behaviour(ready_after=(2,)), 2: Behaviour((None,))}, stable=1, count=3)
    machine = RollingUpdate(1, 2, params(3, 1, 1, deadline=10.0), 0.0)
    end, decisions = run(machine, world, bounded(2, 99))
    phases = [d.phase for d in decisions]
    first_failure = phases.index(Phase.ROLLING_BACK)
    assert decisions[first_failure].scale[1] == 3  # stable back to full size
    assert phases[-1] is Phase.FAILED
    assert "progress deadline" in decisions[-1].reason
    assert decisions[-1].scale == {1: 3, 2: 0}
    assert total_available(end, 0.0) == 3
    assert live_of(end, 2) == 0
    # progress was the stable scale-down at t=0; the deadline is exclusive
    assert first_failure == 11


def test_crash_looping_target_fails_via_boot_limit_before_deadline() -> None:
    world = seeded({2: Behaviour(crash=True)}, stable=1, count=2)
    machine = RollingUpdate(1, 2, params(2, 1, 0, deadline=1000.0), 0.0)
    end, decisions = run(machine, world, bounded(2, 99))
    assert decisions[-1].phase is Phase.FAILED
    assert decisions[-1].reason == "replica r2-1 failed at boot 3 times"
    assert end.now < 20
    assert any("rollout failed: replica r2-1" in e for d in decisions for e in d.events)


def test_rollback_keeps_ready_target_until_stable_is_full() -> None:
    behaviours = {1: Behaviour(ready_after=(3,)), 2: Behaviour(ready_after=(0, None))}
    world = seeded(behaviours, stable=1, count=3)
    machine = RollingUpdate(1, 2, params(3, 1, 0, deadline=5.0), 0.0)
    # one target replica is ready and serving: availability must never dip below 3
    _, decisions = run(machine, world, bounded(3, 99))
    back = [d for d in decisions if d.phase is Phase.ROLLING_BACK]
    assert back
    assert back[0].scale == {1: 3, 2: 1}
    assert decisions[-1].phase is Phase.FAILED


def test_first_deploy_succeeds() -> None:
    world = seeded({1: Behaviour(ready_after=(1,))}, stable=None, count=0)
    machine = RollingUpdate(None, 1, params(2, 0, 1), 0.0)
    _, decisions = run(machine, world)
    assert decisions[0].scale == {1: 2}
    assert decisions[0].events == ("scaled revision 1 up to 2",)
    assert decisions[-1].phase is Phase.SUCCEEDED


def test_first_deploy_failure_goes_straight_to_failed() -> None:
    world = seeded({1: Behaviour((None,))}, stable=None, count=0)
    machine = RollingUpdate(None, 1, params(2, 1, 0, deadline=4.0), 0.0)
    _, decisions = run(machine, world)
    assert Phase.ROLLING_BACK not in {d.phase for d in decisions}
    assert decisions[-1].phase is Phase.FAILED
    assert decisions[-1].scale == {1: 0}
    assert decisions[-1].events[0].startswith("rollout failed: progress deadline")


def test_step_is_idempotent_for_unchanged_observations() -> None:
    world = seeded({2: Behaviour()}, stable=1, count=3)
    machine = RollingUpdate(1, 2, params(3, 1, 0), 0.0)
    first = machine.step(observe(world), 0.5)
    again = machine.step(observe(world), 0.5)
    assert first.events == ("scaled revision 2 up to 1",)
    assert (again.phase, again.scale, again.reason) == (first.phase, first.scale, first.reason)
    assert again.events == ()


def test_events_only_when_something_changes() -> None:
    world = seeded({2: Behaviour(ready_after=(4,))}, stable=1, count=2)
    machine = RollingUpdate(1, 2, params(2, 1, 0), 0.0)
    _, decisions = run(machine, world)
    previous: Decision | None = None
    for d in decisions:
        if previous is not None and d.events:
            assert (d.scale, d.phase) != (previous.scale, previous.phase)
        previous = d
    assert sum(len(d.events) for d in decisions) < len(decisions)


def test_terminal_machine_keeps_answering_without_events() -> None:
    world = seeded({2: Behaviour()}, stable=1, count=1)
    machine = RollingUpdate(1, 2, params(1, 1, 0), 0.0)
    end, decisions = run(machine, world)
    later = machine.step(observe(end), end.now + 100)
    assert later.phase is Phase.SUCCEEDED is machine.phase
    assert later.scale == decisions[-1].scale
    assert later.events == ()


def test_rolling_a_revision_over_itself_is_refused() -> None:
    with pytest.raises(ValueError, match="over itself"):
        RollingUpdate(2, 2, params(1, 1, 0), 0.0)


def test_boot_failure_reason_says_why_the_replica_failed() -> None:
    from changeover.rollout.observe import ReplicaObs, RevisionObs
    from changeover.supervisor.state import ReplicaState

    machine = RollingUpdate(None, 2, params(1, 1, 0), started_at=0.0)
    crashing = ReplicaObs(
        "r2-1", ReplicaState.BACKOFF, None, 3, last_error='command not found: "uvicornx"'
    )
    decision = machine.step({2: RevisionObs(2, (crashing,))}, now=1.0)
    assert decision.phase is Phase.FAILED
    assert decision.reason == ('replica r2-1 failed at boot 3 times: command not found: "uvicornx"')


def test_an_abort_names_who_sent_it_and_ends_aborted() -> None:
    world = seeded({1: Behaviour(), 2: Behaviour(ready_after=(None,))}, stable=1, count=3)
    machine = RollingUpdate(1, 2, params(3, 1, 0, deadline=60.0), 0.0)
    assert machine.command(Paused("ci"), 0.0) == "rollout paused by ci"
    assert machine.command(AbortRequested("verify"), 0.0) == "rolling back to revision 1"
    _, decisions = run(machine, world)
    assert decisions[0].events[:3] == (
        "rollout paused by ci",
        "rollout aborted by verify",
        "rolling back to revision 1",
    )
    assert decisions[-1].phase is Phase.ABORTED
    assert decisions[-1].reason == "aborted by verify"
