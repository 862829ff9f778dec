"""After a crash in a guard window: a rolling update's target is kept (nothing of the
previous revision runs), a canary's or blue-green's is not (the previous one is warm)."""

from __future__ import annotations

from changeover.agent.controller import keep_guarded_target
from changeover.rollout.phase import Phase
from changeover.store import Store


def guarding(store: Store, *, previous_running: bool) -> int:
    one, two = (
        store.create_revision(
            version=v, path="/srv", command="app", env={}, spec={}, replicas=2, now=1.0
        ).id
        for v in ("v1", "v2")
    )
    first = store.start_rollout(
        from_revision=None, to_revision=one, kind="initial", strategy="rolling", now=1.0
    )
    store.finish_rollout(first.id, phase="succeeded", reason="", now=2.0)
    rollout = store.start_rollout(
        from_revision=one, to_revision=two, kind="deploy", strategy="rolling", now=3.0
    )
    store.set_rollout_phase(rollout.id, Phase.GUARDING)
    running = [("r2-1", two), ("r2-2", two)] + ([("r1-3", one)] if previous_running else [])
    for i, (replica, revision) in enumerate(running):
        store.record_replica(
            replica, revision=revision, pid=100 + i, pgid=100 + i, create_time=5.0, now=4.0,
            port=40_000 + i,
        )  # fmt: skip
    return rollout.id


def test_a_guarded_target_is_kept_when_the_previous_revision_no_longer_runs(
    store: Store,
) -> None:
    rollout_id = guarding(store, previous_running=False)
    kept = keep_guarded_target(store, now=9.0)
    assert kept is not None
    assert (kept.id, kept.phase, kept.finished_at) == (rollout_id, Phase.SUCCEEDED, 9.0)
    assert kept.reason == (
        "the agent restarted in the guard window; revision 2 kept, since revision 1 no longer ran"
    )
    stable = store.stable_revision()
    assert stable is not None
    assert stable.id == 2


def test_a_warm_previous_revision_is_restored_as_after_any_interrupted_rollout(
    store: Store,
) -> None:
    guarding(store, previous_running=True)
    assert keep_guarded_target(store, now=9.0) is None
    active = store.active_rollout()
    assert active is not None
    assert active.phase is Phase.GUARDING  # left for interrupt_active, as before
    stable = store.stable_revision()
    assert stable is not None
    assert stable.id == 1


def test_nothing_to_do_outside_a_guard_window(store: Store) -> None:
    assert keep_guarded_target(store, now=9.0) is None
