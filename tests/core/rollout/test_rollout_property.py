"""Property: for any sizes and readiness timings the two invariants hold and it ends; and
when the stable's new replicas may never come back, the rollback still ends, keeping
the revision that serves more.

The fake supervisor stops exactly the replicas each decision names, as the real one
does, so the availability proven here is that of the removals production carries out.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.rollout.decision import Decision
from changeover.rollout.observe import RevisionObs
from changeover.rollout.phase import Phase
from changeover.rollout.rolling import RollingParams, RollingUpdate
from changeover.supervisor.state import ReplicaState as S

from ._sim import Behaviour, World, observe, run, seeded, total_available, total_live

DELAYS = st.lists(st.integers(0, 5), min_size=1, max_size=4).map(tuple)
# None: that replica never becomes ready (hangs in STARTING)
MAYBE_NEVER = st.lists(st.integers(0, 5) | st.none(), min_size=1, max_size=4).map(tuple)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[RollingParams, int, Behaviour, Behaviour]:
    n = draw(st.integers(1, 6))
    surge = draw(st.integers(0, 3))
    unav = draw(st.integers(0 if surge else 1, 3))
    stable_count = draw(st.integers(1, 6))
    min_ready = float(draw(st.integers(0, 3)))
    params = RollingParams(n, surge, unav, min_ready, 30.0, stable_replicas=stable_count)
    stable = Behaviour(ready_after=draw(DELAYS))
    target = Behaviour(ready_after=draw(MAYBE_NEVER), crash=draw(st.booleans()))
    return params, stable_count, stable, target


def named_removals_are_the_excess(before: World, d: Decision) -> None:
    """A decision names live replicas of the revision, exactly as many as it has too many."""
    for rev, want in d.scale.items():
        alive = {r.id for r in observe(before).get(rev, RevisionObs(rev)).replicas}
        alive -= {r.id for r in before.replicas if r.state.terminating}
        named = d.remove.get(rev, ())
        assert set(named) <= alive, (named, alive)
        assert len(set(named)) == len(named), named
        assert len(named) == max(0, len(alive) - want), (rev, named, alive, want)


def succeeds(p: RollingParams, target: Behaviour) -> bool:
    """Only N target replicas are ever spawned while progressing: all must get ready."""
    delays = target.ready_after
    return not target.crash and all(delays[i % len(delays)] is not None for i in range(p.replicas))


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_invariants_hold_and_rollout_terminates(
    scenario: tuple[RollingParams, int, Behaviour, Behaviour],
) -> None:
    p, stable_count, stable, target = scenario
    world = seeded({1: stable, 2: target}, stable=1, count=stable_count)
    machine = RollingUpdate(1, 2, p, started_at=0.0)

    def check(before: World, after: World, d: Decision) -> None:
        named_removals_are_the_excess(before, d)
        floor = p.replicas - p.max_unavailable if d.phase is Phase.PROGRESSING else stable_count
        was = total_available(before, p.min_ready)
        assert total_available(after, p.min_ready) >= min(was, floor)
        if d.phase in (Phase.PROGRESSING, Phase.SUCCEEDED):
            assert total_live(after) <= max(total_live(before), p.replicas + p.max_surge)

    end, decisions = run(machine, world, check)
    final = decisions[-1]
    if succeeds(p, target):
        assert final.phase is Phase.SUCCEEDED
        assert total_available(end, p.min_ready) == p.replicas
    else:
        assert final.phase is Phase.FAILED
        assert final.scale == {1: stable_count, 2: 0}
        assert total_available(end, p.min_ready) == stable_count
        assert total_live(end) == stable_count


def ready_of(world: World, revision: int) -> int:
    return sum(1 for r in world.replicas if r.revision == revision and r.state is S.READY)


@st.composite
def broken_stables(draw: st.DrawFn) -> tuple[RollingParams, int, Behaviour, Behaviour]:
    """As `scenarios`, but the stable's new replicas may never get ready or may crash."""
    p, stable_count, _, target = draw(scenarios())
    stable = Behaviour(ready_after=draw(MAYBE_NEVER), crash=draw(st.booleans()))
    rollback = draw(st.sampled_from([None, 0.0, 5.0, 20.0]))
    return replace(p, rollback_deadline=rollback), stable_count, stable, target


@settings(max_examples=150, deadline=None)
@given(broken_stables())
def test_a_rollback_ends_and_giving_up_keeps_the_revision_serving_more(
    scenario: tuple[RollingParams, int, Behaviour, Behaviour],
) -> None:
    p, stable_count, stable, target = scenario
    world = seeded({1: stable, 2: target}, stable=1, count=stable_count)
    machine = RollingUpdate(1, 2, p, started_at=0.0)
    ends: list[tuple[World, World, Decision]] = []

    def check(before: World, after: World, d: Decision) -> None:
        named_removals_are_the_excess(before, d)
        if d.phase.terminal:
            ends.append((before, after, d))

    run(machine, world, check)
    ((before, after, final),) = ends
    if final.kept is None:
        assert final.phase is not Phase.FAILED or final.scale == {1: stable_count, 2: 0}
        return
    assert final.phase is Phase.FAILED
    assert "rollback deadline exceeded" in final.reason
    serving = {rev: ready_of(before, rev) for rev in (1, 2)}
    assert serving[final.kept] == max(serving.values())  # a tie keeps the stable (1)
    assert final.kept == 1 or serving[2] > serving[1]
    assert ready_of(after, final.kept) == serving[final.kept]  # none of it was stopped
    other = 2 if final.kept == 1 else 1
    assert final.scale[other] == 0
