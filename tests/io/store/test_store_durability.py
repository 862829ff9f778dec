"""Schema versioning, reopening, WAL concurrency, and surviving a SIGKILLed writer."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from changeover.rollout.phase import Phase
from changeover.store import RevisionStatus, RolloutKind, Store, StoreError
from changeover.store.schema import MIGRATIONS, connect, migrate, user_version

from ._helpers import db_path, new_revision, roll


def test_open_creates_and_versions_the_schema(tmp_path: Path) -> None:
    with Store.open(db_path(tmp_path)) as store:
        assert store.schema_version == len(MIGRATIONS)
    raw = sqlite3.connect(db_path(tmp_path))
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    raw.close()


def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    conn = connect(db_path(tmp_path))
    broken = (*MIGRATIONS, ("CREATE TABLE extra (a)", "NOT SQL AT ALL"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    assert user_version(conn) == 0
    tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == []
    conn.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    Store.open(db_path(tmp_path)).close()
    raw = sqlite3.connect(db_path(tmp_path))
    newer = len(MIGRATIONS) + 1
    raw.execute(f"PRAGMA user_version = {newer}")
    raw.close()
    with pytest.raises(StoreError, match=f"version {newer} is newer"):
        Store.open(db_path(tmp_path))


def test_reopen_after_close_keeps_everything(tmp_path: Path) -> None:
    with Store.open(db_path(tmp_path)) as store:
        r1, r2 = new_revision(store, "v1"), new_revision(store, "v2")
        roll(store, None, r1.id, kind=RolloutKind.INITIAL)
        roll(store, r1.id, r2.id)
        store.add_event("note", "hello", now=3.0)
        store.record_replica("r2-1", revision=2, pid=7, pgid=7, create_time=1.0, now=2.0)
        before = (store.revisions(), store.rollouts(), store.events(), store.recorded_replicas())
    with Store.open(db_path(tmp_path)) as store:
        after = (store.revisions(), store.rollouts(), store.events(), store.recorded_replicas())
        assert store.schema_version == len(MIGRATIONS)
    assert after == before
    assert after[0][0].status is RevisionStatus.STABLE


def test_reader_is_not_blocked_by_an_open_write(tmp_path: Path) -> None:
    with Store.open(db_path(tmp_path)) as reader:
        new_revision(reader)
        writer = sqlite3.connect(db_path(tmp_path), isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE revisions SET status = 'failed'")
        # uncommitted: the reader sees the last committed state, without waiting
        assert reader.revision(1).status is RevisionStatus.PENDING
        writer.execute("COMMIT")
        writer.close()
        assert reader.revision(1).status is RevisionStatus.FAILED


def test_writer_commits_while_a_reader_holds_a_snapshot(tmp_path: Path) -> None:
    with Store.open(db_path(tmp_path)) as store:
        reader = sqlite3.connect(db_path(tmp_path), isolation_level=None, timeout=0.1)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM events").fetchone() == (0,)
        store.add_event("note", "written during a read", now=1.0)  # WAL: no lock wait
        assert reader.execute("SELECT count(*) FROM events").fetchone() == (0,)
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM events").fetchone() == (1,)
        reader.close()


# The trace callback is the only way to pause inside a store transaction, hence `_conn`.
KILLED_WRITER = """
import sys, time
from pathlib import Path
from changeover.store import Store

store = Store.open(Path(sys.argv[1]))
seen = []

def pause_before_second_revision_update(sql):
    if sql.startswith("UPDATE revisions"):
        seen.append(sql)
        if len(seen) == 2:
            print("mid-transaction", flush=True)
            time.sleep(60)

store._conn.set_trace_callback(pause_before_second_revision_update)
store.finish_rollout(int(sys.argv[2]), phase="succeeded", reason="", now=99.0)
"""


@pytest.mark.timeout(30)
def test_sigkilled_writer_leaves_nothing_partial(tmp_path: Path) -> None:
    with Store.open(db_path(tmp_path)) as store:
        r1, r2 = new_revision(store, "v1"), new_revision(store, "v2")
        roll(store, None, r1.id, kind=RolloutKind.INITIAL)
        rollout = store.start_rollout(
            from_revision=r1.id, to_revision=r2.id, kind="deploy", strategy="rolling", now=5.0
        )
    argv = [sys.executable, "-c", KILLED_WRITER, str(db_path(tmp_path)), str(rollout.id)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        line = proc.stdout.readline()
        if line != "mid-transaction\n":
            proc.kill()
            pytest.fail(f"writer did not pause: {line!r} {proc.stderr.read()}")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    with Store.open(db_path(tmp_path)) as store:
        active = store.active_rollout()
        assert active is not None
        assert (active.id, active.phase, active.finished_at) == (
            rollout.id,
            Phase.PROGRESSING,
            None,
        )
        assert store.revision(r1.id).status is RevisionStatus.STABLE
        assert store.revision(r2.id).status is RevisionStatus.PROGRESSING
        # and the store is fully writable again: no stale lock survives the kill
        store.finish_rollout(rollout.id, phase=Phase.SUCCEEDED, reason="", now=100.0)
        assert store.revision(r2.id).status is RevisionStatus.STABLE
