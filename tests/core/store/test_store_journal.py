"""Events are a cursorable append-only log; replica records mirror running processes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from changeover.store import ReplicaRecord, Store
from changeover.store.schema import MIGRATIONS, connect, migrate
from tests.io.store._helpers import db_path, new_revision


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(db_path(tmp_path)) as s:
        new_revision(s)
        yield s


def test_events_round_trip_and_page_by_cursor(store: Store) -> None:
    rollout = store.start_rollout(
        from_revision=None, to_revision=1, kind="initial", strategy="rolling", now=1.0
    )
    first = store.add_event(
        "scale", "scaled r1 up to 2", now=5.0, rollout_id=rollout.id, revision=1
    )
    rest = [store.add_event("note", f"n{i}", now=6.0 + i) for i in range(3)]
    assert store.events() == [first, *rest]
    assert (first.ts, first.rollout_id, first.revision, first.kind) == (5.0, 1, 1, "scale")
    assert [e.message for e in store.events(after_id=first.id, limit=2)] == ["n0", "n1"]
    assert store.events(after_id=rest[-1].id) == []


def test_replicas_are_recorded_replaced_and_forgotten(store: Store) -> None:
    store.record_replica("r1-1", revision=1, pid=100, pgid=100, create_time=9.5, now=10.0)
    store.record_replica("r1-2", revision=1, pid=101, pgid=101, create_time=9.6, now=10.0)
    # a restarted replica keeps its id but gets a new process
    store.record_replica(
        "r1-1", revision=1, pid=200, pgid=200, create_time=19.5, now=20.0, port=41000
    )
    assert store.recorded_replicas() == [
        ReplicaRecord("r1-1", 1, 200, 200, 19.5, 20.0, port=41000),
        ReplicaRecord("r1-2", 1, 101, 101, 9.6, 10.0),
    ]
    store.forget_replica("r1-2")
    store.forget_replica("r1-2")  # idempotent: reaping twice is harmless
    assert [r.id for r in store.recorded_replicas()] == ["r1-1"]


def test_replicas_recorded_before_ports_were_read_back_without_one(tmp_path: Path) -> None:
    conn = connect(db_path(tmp_path))
    migrate(conn, MIGRATIONS[:3])  # the schema before the port column
    conn.execute(
        "INSERT INTO revisions (version, path, command, env, spec, replicas, status,"
        " created_at) VALUES ('v1', '/srv', 'app', '{}', '{}', 1, 'stable', 1.0)"
    )
    conn.execute(
        "INSERT INTO replicas (id, revision, pid, pgid, create_time, started_at)"
        " VALUES ('r1-1', 1, 100, 100, 9.5, 10.0)"
    )
    conn.close()
    with Store.open(db_path(tmp_path)) as store:  # migrates: the row has no port
        assert store.recorded_replicas() == [ReplicaRecord("r1-1", 1, 100, 100, 9.5, 10.0)]
        assert store.recorded_replicas()[0].port is None


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        store.record_replica("r9-1", revision=9, pid=1, pgid=1, create_time=0.0, now=0.0)
    assert store.recorded_replicas() == []


def test_last_event_id_is_a_cursor_for_what_comes_next(tmp_path: Path) -> None:
    with Store.open(db_path(tmp_path)) as store:
        assert store.last_event_id() == 0
        store.add_event("agent", "one", now=1.0)
        second = store.add_event("agent", "two", now=2.0)
        cursor = store.last_event_id()
        assert cursor == second.id
        third = store.add_event("agent", "three", now=3.0)
        assert [e.message for e in store.events(after_id=cursor)] == ["three"]
        assert store.last_event_id() == third.id


def test_analysis_runs_and_measurements_are_kept_per_rollout(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db") as store:
        rev = store.create_revision(
            version="v1", path="/", command="x", env={}, spec={}, replicas=1, now=1.0
        )
        rollout = store.start_rollout(
            from_revision=None, to_revision=rev.id, kind="initial", strategy="canary", now=1.0
        )
        store.start_run(rollout.id, "step-1", "slo", now=2.0)
        for i in range(3):
            store.add_measurement(
                rollout.id,
                "step-1",
                metric="success",
                outcome="passed",
                value=0.99 + i / 1000,
                message=f"round {i}",
                now=3.0 + i,
            )
        store.end_run(rollout.id, "step-1", status="successful", summary="ok", now=9.0)
        (run,) = store.runs(rollout.id)
        assert (run.key, run.status, run.summary, run.finished_at) == (
            "step-1",
            "successful",
            "ok",
            9.0,
        )
        assert [m.message for m in store.measurements(rollout.id, limit=2)] == [
            "round 1",
            "round 2",
        ]
        with pytest.raises(sqlite3.IntegrityError):
            store.start_run(rollout.id, "step-1", "slo", now=10.0)
