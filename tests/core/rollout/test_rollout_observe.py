"""Observation counting and the scale arithmetic, on hand-built snapshots."""

from __future__ import annotations

from changeover.rollout.observe import (
    ReplicaObs,
    RevisionObs,
    available,
    live,
    removal_order,
    removals,
    revision_obs,
)
from changeover.rollout.plan import Counts, plan_progress, plan_rollback
from changeover.supervisor.state import ReplicaState as S

REV = RevisionObs(
    3,
    (
        ReplicaObs("r3-1", S.READY, 10.0, 0),
        ReplicaObs("r3-2", S.READY, 14.0, 0),
        ReplicaObs("r3-3", S.STARTING, None, 1),
        ReplicaObs("r3-4", S.DRAINING, None, 0),
        ReplicaObs("r3-5", S.BACKOFF, None, 2),
        ReplicaObs("r3-6", S.EXITED, None, 0),
    ),
)


def test_available_requires_min_ready_seconds() -> None:
    assert available(REV, now=15.0, min_ready=0.0) == 2
    assert available(REV, now=15.0, min_ready=2.0) == 1
    assert available(REV, now=15.0, min_ready=6.0) == 0


def test_live_excludes_draining_stopping_and_exited() -> None:
    assert live(REV) == 4


def test_missing_revision_is_empty() -> None:
    assert revision_obs({}, 7) == RevisionObs(7, ())


def test_removal_order_is_not_ready_first_then_newest_ready() -> None:
    assert [r.id for r in removal_order(REV)] == ["r3-3", "r3-5", "r3-2", "r3-1"]


def test_removals_name_the_excess_of_each_revision_in_removal_order() -> None:
    order = [r.id for r in removal_order(REV)]
    assert removals({3: REV}, {3: 1}) == {3: tuple(order[:3])}
    assert removals({3: REV}, {3: 4}) == {}  # nothing too many; terminating ones not counted
    assert removals({3: REV}, {3: 0, 5: 0}) == {3: tuple(order)}  # revision 5: nothing live


def test_not_ready_stable_replicas_are_dropped_to_make_room() -> None:
    # 3 stable, one of them crashing; surge 0: dropping it frees a slot for the target
    c = Counts(old_live=3, old_ready=2, old_avail=2, new_live=0, new_ready=0, new_avail=0)
    assert plan_progress(c, 3, max_surge=0, max_unavailable=1) == (2, 1)


def test_no_scale_down_below_the_availability_floor() -> None:
    c = Counts(old_live=3, old_ready=3, old_avail=3, new_live=1, new_ready=0, new_avail=0)
    assert plan_progress(c, 3, max_surge=1, max_unavailable=0) == (3, 1)


def test_full_target_makes_the_rest_of_stable_surplus() -> None:
    c = Counts(old_live=2, old_ready=2, old_avail=1, new_live=3, new_ready=3, new_avail=3)
    assert plan_progress(c, 3, max_surge=1, max_unavailable=0) == (0, 3)


def test_rollback_holds_ready_target_until_stable_is_full() -> None:
    partial = Counts(old_live=3, old_ready=2, old_avail=2, new_live=2, new_ready=1, new_avail=1)
    full = Counts(old_live=3, old_ready=3, old_avail=3, new_live=2, new_ready=1, new_avail=1)
    assert plan_rollback(partial, 3, hold=2) == (3, 1)
    assert plan_rollback(full, 3, hold=2) == (3, 0)
