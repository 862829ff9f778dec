"""Rollouts: lifecycle, one active at a time, atomic endings, interruption."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from changeover.rollout.phase import Phase
from changeover.spec.strategy import StrategyName
from changeover.store import Conflict, NotFound, RevisionStatus, RolloutKind, Store
from tests.io.store._helpers import db_path, new_revision, roll


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(db_path(tmp_path)) as s:
        r1, r2 = new_revision(s, "v1").id, new_revision(s, "v2").id
        roll(s, None, r1, kind=RolloutKind.INITIAL)
        s.start_rollout(
            from_revision=r1, to_revision=r2, kind=RolloutKind.DEPLOY, strategy="rolling", now=20.0
        )
        yield s


def statuses(store: Store) -> dict[int, RevisionStatus]:
    return {r.id: r.status for r in store.revisions()}


def test_start_rollout_marks_target_progressing(store: Store) -> None:
    active = store.active_rollout()
    assert active is not None
    assert (active.from_revision, active.to_revision, active.phase) == (1, 2, Phase.PROGRESSING)
    assert (active.kind, active.strategy, active.started_at) == (
        RolloutKind.DEPLOY,
        "rolling",
        20.0,
    )
    assert statuses(store) == {1: RevisionStatus.STABLE, 2: RevisionStatus.PROGRESSING}


def test_success_makes_target_stable_and_supersedes_old(store: Store) -> None:
    store.finish_rollout(2, phase=Phase.SUCCEEDED, reason="", now=30.0)
    assert statuses(store) == {1: RevisionStatus.SUPERSEDED, 2: RevisionStatus.STABLE}
    done = store.rollout(2)
    assert (done.phase, done.finished_at, done.active) == (Phase.SUCCEEDED, 30.0, False)
    assert store.active_rollout() is None


@pytest.mark.parametrize("phase", ["failed", Phase.ABORTED])
def test_failure_marks_target_failed_and_keeps_stable(store: Store, phase: Phase | str) -> None:
    store.finish_rollout(2, phase=phase, reason="progress deadline exceeded", now=30.0)
    assert statuses(store) == {1: RevisionStatus.STABLE, 2: RevisionStatus.FAILED}
    assert store.rollout(2).reason == "progress deadline exceeded"


def test_a_rollback_that_gave_up_keeping_the_target_makes_it_the_one_stable(store: Store) -> None:
    reason = "rollback deadline exceeded: revision 1 did not come back within 300s"
    store.finish_rollout(2, phase=Phase.FAILED, reason=reason, now=30.0, kept=2)
    assert statuses(store) == {1: RevisionStatus.SUPERSEDED, 2: RevisionStatus.STABLE}
    stable = store.stable_revision()
    assert stable is not None
    assert stable.id == 2
    done = store.rollout(2)
    assert (done.phase, done.reason, done.active) == (Phase.FAILED, reason, False)


def test_a_rollback_that_gave_up_keeping_the_stable_fails_the_target(store: Store) -> None:
    store.finish_rollout(2, phase=Phase.FAILED, reason="nothing is serving", now=30.0, kept=1)
    assert statuses(store) == {1: RevisionStatus.STABLE, 2: RevisionStatus.FAILED}


@pytest.mark.parametrize(
    ("phase", "kept"), [(Phase.SUCCEEDED, 2), (Phase.ABORTED, 2), ("failed", 3)]
)
def test_only_a_failed_rollout_keeps_and_only_one_of_its_revisions(
    store: Store, phase: Phase | str, kept: int
) -> None:
    new_revision(store, "v3")
    with pytest.raises(ValueError, match=f"r1 -> r2\\) cannot end keeping r{kept}"):
        store.finish_rollout(2, phase=phase, reason="", now=30.0, kept=kept)
    assert store.active_rollout() is not None  # nothing written
    assert statuses(store)[1] is RevisionStatus.STABLE


def test_only_one_active_rollout(store: Store) -> None:
    new_revision(store, "v3")
    with pytest.raises(Conflict, match="#2 to r2 is still active"):
        store.start_rollout(
            from_revision=1, to_revision=3, kind=RolloutKind.DEPLOY, strategy="rolling", now=1.0
        )
    assert len(store.rollouts()) == 2
    assert store.revision(3).status is RevisionStatus.PENDING


def test_unknown_target_is_not_found(store: Store) -> None:
    store.finish_rollout(2, phase=Phase.SUCCEEDED, reason="", now=30.0)
    with pytest.raises(NotFound, match="no revision r9"):
        store.start_rollout(
            from_revision=2, to_revision=9, kind=RolloutKind.DEPLOY, strategy="rolling", now=1.0
        )


def test_finishing_twice_or_unknown_is_an_error(store: Store) -> None:
    store.finish_rollout(2, phase=Phase.SUCCEEDED, reason="", now=30.0)
    with pytest.raises(Conflict, match="rollout #2: rollout cannot go from succeeded to failed"):
        store.finish_rollout(2, phase=Phase.FAILED, reason="", now=31.0)
    with pytest.raises(NotFound, match="no rollout #99"):
        store.finish_rollout(99, phase=Phase.FAILED, reason="", now=31.0)
    with pytest.raises(ValueError, match="does not end"):
        store.finish_rollout(2, phase=Phase.ROLLING_BACK, reason="", now=31.0)


def test_phase_moves_are_recorded_and_checked(store: Store) -> None:
    store.set_rollout_phase(2, Phase.ROLLING_BACK, reason="replica r2-1 failed at boot 3 times")
    active = store.active_rollout()
    assert active is not None
    assert (active.phase, active.reason) == (
        Phase.ROLLING_BACK,
        "replica r2-1 failed at boot 3 times",
    )
    with pytest.raises(Conflict):
        store.set_rollout_phase(2, Phase.PROGRESSING)
    with pytest.raises(ValueError, match="use finish_rollout"):
        store.set_rollout_phase(2, Phase.FAILED)


def test_interrupt_active_ends_it_and_fails_the_target(store: Store) -> None:
    store.set_rollout_phase(2, Phase.ROLLING_BACK)
    interrupted = store.interrupt_active(now=50.0)
    assert interrupted is not None
    assert (interrupted.id, interrupted.phase, interrupted.finished_at) == (
        2,
        Phase.INTERRUPTED,
        50.0,
    )
    assert "rolling-back" in interrupted.reason
    assert statuses(store) == {1: RevisionStatus.STABLE, 2: RevisionStatus.FAILED}
    assert store.active_rollout() is None
    assert store.interrupt_active(now=51.0) is None


def test_restore_rollout_leaves_statuses_alone(store: Store) -> None:
    store.finish_rollout(2, phase=Phase.SUCCEEDED, reason="", now=30.0)
    before = statuses(store)
    restore = store.start_rollout(
        from_revision=None, to_revision=2, kind=RolloutKind.RESTORE, strategy="rolling", now=40.0
    )
    assert statuses(store) == before
    store.finish_rollout(restore.id, phase=Phase.FAILED, reason="port in use", now=41.0)
    assert statuses(store) == before


def test_rollout_onto_itself_is_refused(store: Store) -> None:
    with pytest.raises(Conflict, match="cannot replace itself"):
        store.start_rollout(
            from_revision=1, to_revision=1, kind=RolloutKind.UNDO, strategy="rolling", now=1.0
        )


def test_rollouts_are_newest_first_and_limited(store: Store) -> None:
    assert [r.id for r in store.rollouts()] == [2, 1]
    assert [r.id for r in store.rollouts(limit=1)] == [2]


def fail_when(tmp_path: Path, status: str) -> None:
    """Install a trigger that aborts any statement setting a revision to `status`."""
    conn = sqlite3.connect(db_path(tmp_path))
    with conn:
        conn.execute(
            f"CREATE TRIGGER boom BEFORE UPDATE OF status ON revisions"
            f" WHEN NEW.status = '{status}' BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    conn.close()


def test_finish_rollout_is_all_or_nothing(store: Store, tmp_path: Path) -> None:
    # the failing statement runs after the rollout row was already updated
    fail_when(tmp_path, "stable")
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        store.finish_rollout(2, phase=Phase.SUCCEEDED, reason="", now=30.0)
    active = store.active_rollout()
    assert active is not None
    assert (active.id, active.phase, active.finished_at) == (2, Phase.PROGRESSING, None)
    assert statuses(store) == {1: RevisionStatus.STABLE, 2: RevisionStatus.PROGRESSING}


def test_start_rollout_is_all_or_nothing(store: Store, tmp_path: Path) -> None:
    store.finish_rollout(2, phase=Phase.SUCCEEDED, reason="", now=30.0)
    new_revision(store, "v3")
    fail_when(tmp_path, "progressing")
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        store.start_rollout(
            from_revision=2, to_revision=3, kind=RolloutKind.DEPLOY, strategy="rolling", now=1.0
        )
    assert store.active_rollout() is None
    assert len(store.rollouts()) == 2


def test_the_strategy_is_stored_as_its_name_and_read_back_as_the_enum(store: Store) -> None:
    store.finish_rollout(2, phase=Phase.ABORTED, reason="", now=30.0)
    blue = store.start_rollout(
        from_revision=1, to_revision=2, kind="deploy", strategy=StrategyName.BLUE_GREEN, now=40.0
    )
    assert blue.strategy is StrategyName.BLUE_GREEN
    raw = store._conn.execute("SELECT strategy FROM rollouts WHERE id = ?", (blue.id,))
    assert raw.fetchone()[0] == "blue-green"


def test_a_recorded_move_may_span_several_events_of_one_decision(store: Store) -> None:
    """Paused, then a boot failure and an immediate end of the rollback: paused -> failed."""
    store.set_rollout_phase(2, Phase.PAUSED)
    store.finish_rollout(2, phase=Phase.FAILED, reason="replica r2-1 failed at boot", now=30.0)
    assert store.rollout(2).phase is Phase.FAILED
    with pytest.raises(Conflict, match="rollout #2: rollout cannot go from failed to progressing"):
        store.set_rollout_phase(2, Phase.PROGRESSING)
