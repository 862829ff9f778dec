"""The event log and the table of replica processes the agent currently runs.

Invariant: events are appended with strictly increasing ids, never reused even after
the oldest are trimmed, so `events(after_id)` is a safe cursor for tailing. The replicas
table mirrors running processes (recorded after spawn with their port, forgotten after
reaping), so an agent restarting after SIGKILL can find the replicas of its predecessor,
adopt those of the stable revision and stop the others, using create_time so that a
reused pid is never touched.
"""

from __future__ import annotations

import sqlite3

from changeover.store.models import Event, ReplicaRecord
from changeover.store.schema import Connected, transaction


def insert_event(
    conn: sqlite3.Connection,
    kind: str,
    message: str,
    *,
    now: float,
    rollout_id: int | None = None,
    revision: int | None = None,
) -> Event:
    """Append one event inside the caller's transaction (so it commits with its change)."""
    cursor = conn.execute(
        "INSERT INTO events (ts, rollout_id, revision, kind, message) VALUES (?, ?, ?, ?, ?)",
        (now, rollout_id, revision, kind, message),
    )
    assert cursor.lastrowid is not None
    return Event(cursor.lastrowid, now, rollout_id, revision, kind, message)


class JournalMixin(Connected):
    def add_event(
        self,
        kind: str,
        message: str,
        *,
        now: float,
        rollout_id: int | None = None,
        revision: int | None = None,
    ) -> Event:
        with transaction(self._conn):
            return insert_event(
                self._conn, kind, message, now=now, rollout_id=rollout_id, revision=revision
            )

    def events(self, after_id: int = 0, limit: int = 100) -> list[Event]:
        """Events with id > `after_id`, oldest first."""
        rows = self._all("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", after_id, limit)
        return [
            Event(r["id"], r["ts"], r["rollout_id"], r["revision"], r["kind"], r["message"])
            for r in rows
        ]

    def last_event_id(self) -> int:
        """Id of the newest event (0 if none): a cursor for "only what happens next"."""
        row = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
        return int(row[0])

    def trim_events(self, keep: int) -> int:
        """Delete all but the newest `keep` events in one transaction; return how many went.
        Ids stay monotonic (AUTOINCREMENT never reuses one), so cursors remain valid."""
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        with transaction(self._conn):
            cursor = self._conn.execute(
                "DELETE FROM events WHERE id <="
                " (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (keep,),
            )
        return cursor.rowcount

    def record_replica(
        self,
        id: str,
        *,
        revision: int,
        pid: int,
        pgid: int,
        create_time: float,
        now: float,
        port: int | None = None,
    ) -> None:
        with transaction(self._conn):
            self._conn.execute(
                "INSERT OR REPLACE INTO replicas (id, revision, pid, pgid, create_time,"
                " started_at, port) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (id, revision, pid, pgid, create_time, now, port),
            )

    def forget_replica(self, id: str) -> None:
        """Drop a replica's record; forgetting an unknown one is a no-op (idempotent)."""
        with transaction(self._conn):
            self._conn.execute("DELETE FROM replicas WHERE id = ?", (id,))

    def recorded_replicas(self) -> list[ReplicaRecord]:
        rows = self._all("SELECT * FROM replicas ORDER BY revision, id")
        return [
            ReplicaRecord(
                r["id"],
                r["revision"],
                r["pid"],
                r["pgid"],
                r["create_time"],
                r["started_at"],
                r["port"],
            )
            for r in rows
        ]
