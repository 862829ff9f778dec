"""Promotions: which release artifact was asked for in this environment, by whom, the
gates it waited for, and the revision and rollout that carried it out.

Invariant: a promotion is recorded (`waiting`) before its revision and rollout exist, and
linked to them (`started`, with its `promotion` event, in one transaction that also
supersedes every other waiting promotion here) right after they do; so every rollout a
promotion started has its record. A waiting promotion stays on record until it starts,
is rejected or superseded (never deleted: only a record refused before it was ever
waiting is); a linked record is never rewritten or removed; its outcome is its rollout's
phase, read live.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from changeover.store.journal import insert_event
from changeover.store.models import Conflict, Event, NotFound
from changeover.store.schema import Connected, transaction

PromotionKind = Literal["promote", "rollback"]
PromotionState = Literal["waiting", "started", "rejected", "superseded"]


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
    state: PromotionState = "started"
    state_at: float | None = None  # when it left `waiting`
    evidence: dict[str, Any] | None = None  # the soak evidence last brought, as received
    gates: list[dict[str, Any]] | None = None  # the gates as last evaluated

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
            state=row["state"],
            state_at=row["state_at"],
            evidence=_json(row["evidence"]),
            gates=_json(row["gates"]),
        )


def _json(raw: str | None) -> Any:
    return None if raw is None else json.loads(raw)


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
        """Record a promotion, waiting for its gates (and its rollout)."""
        with transaction(self._conn):
            cursor = self._conn.execute(
                "INSERT INTO promotions (version, sha256, environment, from_environment,"
                " hotfix, kind, spec_file, requested_by, requested_uid, requested_at, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting')",
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
    ) -> tuple[Promotion, list[Event]]:
        """Name the revision and rollout a recorded promotion started (once), with its
        event (of the rollout, so whoever follows the rollout sees it) first; every other
        promotion waiting here is superseded, each with its event."""
        with transaction(self._conn):
            current = self.promotion(id)
            if current.rollout_id is not None:
                raise Conflict(f"promotion #{id} already started rollout #{current.rollout_id}")
            self._conn.execute(
                "UPDATE promotions SET revision = ?, rollout_id = ?, state = 'started',"
                " state_at = ? WHERE id = ?",
                (revision, rollout_id, now, id),
            )
            events = [
                insert_event(
                    self._conn,
                    "promotion",
                    message,
                    now=now,
                    rollout_id=rollout_id,
                    revision=revision,
                )
            ]
            others = self._all(f"{_SELECT} WHERE p.state = 'waiting' AND p.id != ?", id)
            for row in others:
                self._conn.execute(
                    "UPDATE promotions SET state = 'superseded', state_at = ? WHERE id = ?",
                    (now, row["id"]),
                )
                said = (
                    f"promotion #{row['id']} of {row['version']} superseded: promotion "
                    f"#{id} of {current.version} started first (ask again to promote it)"
                )
                events.append(insert_event(self._conn, "gate", said, now=now))
        return self.promotion(id), events

    def forget_promotion(self, id: int) -> None:
        """Drop a promotion refused before it was ever waiting (no rollout, no revision)."""
        with transaction(self._conn):
            if self.promotion(id).rollout_id is not None:
                raise Conflict(f"promotion #{id} started a rollout: it stays on record")
            self._conn.execute("DELETE FROM approvals WHERE promotion_id = ?", (id,))
            self._conn.execute("DELETE FROM checklist WHERE promotion_id = ?", (id,))
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

    def waiting_promotion(self, version: str, sha256: str) -> Promotion | None:
        """The promotion of this artifact waiting for its gates here, if any."""
        row = self._one(
            f"{_SELECT} WHERE p.state = 'waiting' AND p.version = ? AND p.sha256 = ?"
            " ORDER BY p.id DESC LIMIT 1",
            version,
            sha256,
        )
        return None if row is None else Promotion.from_row(row)

    def waiting_of(self, version: str) -> Promotion | None:
        """The newest promotion of `version` waiting here, if any."""
        row = self._one(
            f"{_SELECT} WHERE p.state = 'waiting' AND p.version = ? ORDER BY p.id DESC LIMIT 1",
            version,
        )
        return None if row is None else Promotion.from_row(row)

    def note_evaluation(
        self,
        id: int,
        *,
        evidence: dict[str, Any] | None,
        gates: list[dict[str, Any]],
        messages: list[str],
        now: float,
    ) -> list[Event]:
        """Keep a waiting promotion's latest evidence (when new evidence came) and gates,
        with an event per gate change (`messages`), in one transaction."""
        with transaction(self._conn):
            if evidence is not None:
                self._conn.execute(
                    "UPDATE promotions SET evidence = ? WHERE id = ?",
                    (json.dumps(evidence, sort_keys=True), id),
                )
            self._conn.execute(
                "UPDATE promotions SET gates = ? WHERE id = ?",
                (json.dumps(gates, sort_keys=True), id),
            )
            return [insert_event(self._conn, "gate", m, now=now) for m in messages]
