"""Promotions: which release artifact was asked for in this environment, by whom, and the
revision and rollout that carried it out.

Invariant: a promotion is recorded before its revision and rollout exist, and linked to
them (with its `promotion` event, in one transaction) right after they do; so every
rollout a promotion started has its record, and a record left without a rollout is a
promotion the agent stopped before it began (nothing of it ran). A linked record is
never rewritten or removed; its outcome is its rollout's phase, read live.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal

from changeover.store.journal import insert_event
from changeover.store.models import Conflict, Event, NotFound
from changeover.store.schema import Connected, transaction

PromotionKind = Literal["promote", "rollback"]


@dataclass(frozen=True)
class Promotion:
    id: int
    version: str
    sha256: str
    environment: str  # the agent's own ("" without one)
    from_environment: str | None  # where it was promoted from (None: from the build)
    hotfix: bool
    kind: PromotionKind
    spec_file: str  # the spec's name in the artifact
    requested_by: str  # the account the agent saw on the control socket
    requested_uid: int | None
    requested_at: float
    revision: int | None  # None until its revision exists
    rollout_id: int | None
    phase: str | None  # its rollout's phase, None while it has no rollout

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Promotion:
        return cls(
            id=row["id"],
            version=row["version"],
            sha256=row["sha256"],
            environment=row["environment"],
            from_environment=row["from_environment"],
            hotfix=bool(row["hotfix"]),
            kind=row["kind"],
            spec_file=row["spec_file"],
            requested_by=row["requested_by"],
            requested_uid=row["requested_uid"],
            requested_at=row["requested_at"],
            revision=row["revision"],
            rollout_id=row["rollout_id"],
            phase=row["phase"],
        )


_SELECT = (
    "SELECT p.*, r.phase AS phase FROM promotions p LEFT JOIN rollouts r ON r.id = p.rollout_id"
)


class PromotionsMixin(Connected):
    def record_promotion(
        self,
        *,
        version: str,
        sha256: str,
        environment: str,
        from_environment: str | None,
        hotfix: bool,
        kind: PromotionKind,
        spec_file: str,
        requested_by: str,
        requested_uid: int | None,
        now: float,
    ) -> Promotion:
        """Record a promotion about to start its rollout."""
        with transaction(self._conn):
            cursor = self._conn.execute(
                "INSERT INTO promotions (version, sha256, environment, from_environment,"
                " hotfix, kind, spec_file, requested_by, requested_uid, requested_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    version,
                    sha256,
                    environment,
                    from_environment,
                    int(hotfix),
                    kind,
                    spec_file,
                    requested_by,
                    requested_uid,
                    now,
                ),
            )
        assert cursor.lastrowid is not None
        return self.promotion(cursor.lastrowid)

    def link_promotion(
        self, id: int, *, revision: int, rollout_id: int, message: str, now: float
    ) -> tuple[Promotion, Event]:
        """Name the revision and rollout a recorded promotion started (once), with its
        event (of the rollout, so whoever follows the rollout sees it)."""
        with transaction(self._conn):
            current = self.promotion(id)
            if current.rollout_id is not None:
                raise Conflict(f"promotion #{id} already started rollout #{current.rollout_id}")
            self._conn.execute(
                "UPDATE promotions SET revision = ?, rollout_id = ? WHERE id = ?",
                (revision, rollout_id, id),
            )
            event = insert_event(
                self._conn, "promotion", message, now=now, rollout_id=rollout_id, revision=revision
            )
        return self.promotion(id), event

    def forget_promotion(self, id: int) -> None:
        """Drop a promotion refused before it started anything (no rollout, no revision)."""
        with transaction(self._conn):
            if self.promotion(id).rollout_id is not None:
                raise Conflict(f"promotion #{id} started a rollout: it stays on record")
            self._conn.execute("DELETE FROM promotions WHERE id = ?", (id,))

    def promotion(self, id: int) -> Promotion:
        row = self._one(f"{_SELECT} WHERE p.id = ?", id)
        if row is None:
            raise NotFound(f"no promotion #{id}")
        return Promotion.from_row(row)

    def promotions(self, version: str | None = None, limit: int = 100) -> list[Promotion]:
        """The newest promotions first (of `version` only, if given)."""
        if version is None:
            rows = self._all(f"{_SELECT} ORDER BY p.id DESC LIMIT ?", limit)
        else:
            rows = self._all(
                f"{_SELECT} WHERE p.version = ? ORDER BY p.id DESC LIMIT ?", version, limit
            )
        return [Promotion.from_row(r) for r in rows]
