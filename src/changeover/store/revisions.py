"""Revisions: immutable snapshots of what to run, plus their lifecycle status.

Invariant: at most one revision is STABLE (a unique partial index enforces it);
making one stable supersedes the previous one in the same transaction.
"""

from __future__ import annotations

import json
from typing import Any

from changeover.store.models import NotFound, Revision, RevisionStatus
from changeover.store.schema import Connected, transaction


class RevisionsMixin(Connected):
    def create_revision(
        self,
        *,
        version: str,
        path: str,
        command: str,
        env: dict[str, str],
        spec: dict[str, Any],
        replicas: int,
        source_revision: int | None = None,
        secret_sources: dict[str, str] | None = None,
        now: float,
    ) -> Revision:
        """Store a new revision; `env` must already hold digests, not secret values
        (`agent.secrets`): the store writes what it is given."""
        with transaction(self._conn):
            cursor = self._conn.execute(
                "INSERT INTO revisions (version, path, command, env, spec, replicas, status,"
                " created_at, source_revision, secret_sources)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    version,
                    path,
                    command,
                    json.dumps(env, sort_keys=True),
                    json.dumps(spec, sort_keys=True),
                    replicas,
                    RevisionStatus.PENDING,
                    now,
                    source_revision,
                    json.dumps(secret_sources or {}, sort_keys=True),
                ),
            )
        assert cursor.lastrowid is not None
        return self.revision(cursor.lastrowid)

    def revision(self, id: int) -> Revision:
        row = self._one("SELECT * FROM revisions WHERE id = ?", id)
        if row is None:
            raise NotFound(f"no revision r{id}")
        return Revision.from_row(row)

    def revisions(self) -> list[Revision]:
        """Every revision, newest first."""
        return [Revision.from_row(r) for r in self._all("SELECT * FROM revisions ORDER BY id DESC")]

    def set_revision_status(self, id: int, status: RevisionStatus) -> None:
        with transaction(self._conn):
            self._set_status(id, status)

    def stable_revision(self) -> Revision | None:
        row = self._one("SELECT * FROM revisions WHERE status = ?", RevisionStatus.STABLE)
        return None if row is None else Revision.from_row(row)

    def previous_stable(self, current: int) -> Revision | None:
        """The revision that was stable before `current` became stable (kubectl undo).

        Walks successful rollouts newest first. Undoing twice toggles back, because the
        undo itself is the newest success into the revision it restored. A candidate
        that has failed since (or is `current` itself) is skipped by looking further
        back for what was stable before it.
        """
        target = current
        for row in self._all(
            "SELECT from_revision, to_revision FROM rollouts"
            " WHERE phase = 'succeeded' AND from_revision IS NOT NULL ORDER BY id DESC"
        ):
            if row["to_revision"] != target:
                continue
            candidate = self.revision(row["from_revision"])
            if candidate.id != current and candidate.status is not RevisionStatus.FAILED:
                return candidate
            target = candidate.id  # each hop only looks at older rollouts: it terminates
        return None

    def _set_status(self, id: int, status: RevisionStatus) -> None:
        """Set a status inside the caller's transaction."""
        if status is RevisionStatus.STABLE:
            self._conn.execute(
                "UPDATE revisions SET status = ? WHERE status = ? AND id != ?",
                (RevisionStatus.SUPERSEDED, RevisionStatus.STABLE, id),
            )
        cursor = self._conn.execute("UPDATE revisions SET status = ? WHERE id = ?", (status, id))
        if cursor.rowcount == 0:
            raise NotFound(f"no revision r{id}")
