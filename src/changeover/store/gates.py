"""What the gates of a promotion are evaluated on, besides the clock and the spec: its
approvals and rejections, the environment's freezes, its checklist's ticks and command
runs. Who is always the account the agent saw on its control socket.

Invariant: every gate change is written with its `gate` event in one transaction, so the
events say exactly what the records hold (who, when); records are only ever added (a
freeze is lifted by stamping it, never deleted), so what a promotion was let through on
stays readable. Only a waiting promotion takes approvals, rejections and ticks, and a
rejection ends its waiting (`rejected`) in the same transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal

from changeover.store.journal import insert_event
from changeover.store.models import Conflict, Event
from changeover.store.schema import Connected, transaction

Verdict = Literal["approve", "reject"]
ItemKind = Literal["manual", "command"]


@dataclass(frozen=True)
class Approval:
    promotion_id: int
    verdict: Verdict
    by: str  # the account on the control socket
    uid: int | None
    note: str  # the comment of an approval, the reason of a rejection
    at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Approval:
        return cls(
            row["promotion_id"],
            row["verdict"],
            row["by_account"],
            row["by_uid"],
            row["note"],
            row["at"],
        )


@dataclass(frozen=True)
class Freeze:
    id: int
    until: float
    reason: str
    by: str
    uid: int | None
    at: float
    lifted_at: float | None = None
    lifted_by: str | None = None

    def active(self, now: float) -> bool:
        return self.lifted_at is None and self.at <= now < self.until

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Freeze:
        return cls(
            row["id"],
            row["until"],
            row["reason"],
            row["by_account"],
            row["by_uid"],
            row["at"],
            row["lifted_at"],
            row["lifted_by"],
        )


@dataclass(frozen=True)
class ChecklistEntry:
    """A manual item ticked, or a command item run (`ok`: it exited 0 in time)."""

    promotion_id: int
    item: str
    kind: ItemKind
    ok: bool
    detail: str  # a command's exit and last output line; empty for a tick
    by: str
    uid: int | None
    at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ChecklistEntry:
        return cls(
            row["promotion_id"],
            row["item"],
            row["kind"],
            bool(row["ok"]),
            row["detail"],
            row["by_account"],
            row["by_uid"],
            row["at"],
        )


class GatesMixin(Connected):
    def add_verdict(
        self,
        promotion_id: int,
        *,
        verdict: Verdict,
        by: str,
        uid: int | None,
        note: str,
        message: str,
        now: float,
    ) -> list[Event]:
        """Record an approval or a rejection of a waiting promotion; a rejection ends its
        waiting. Conflict if it waits no more, or if `by` gave this verdict already."""
        with transaction(self._conn):
            self._waiting(promotion_id)
            if verdict == "approve" and self._one(
                "SELECT 1 FROM approvals WHERE promotion_id = ? AND by_account = ?"
                " AND verdict = 'approve'",
                promotion_id,
                by,
            ):
                raise Conflict(f"{by} approved promotion #{promotion_id} already")
            self._conn.execute(
                "INSERT INTO approvals (promotion_id, verdict, by_account, by_uid, note, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (promotion_id, verdict, by, uid, note, now),
            )
            if verdict == "reject":
                self._conn.execute(
                    "UPDATE promotions SET state = 'rejected', state_at = ? WHERE id = ?",
                    (now, promotion_id),
                )
            return [insert_event(self._conn, "gate", message, now=now)]

    def approvals(self, promotion_id: int) -> list[Approval]:
        rows = self._all("SELECT * FROM approvals WHERE promotion_id = ? ORDER BY id", promotion_id)
        return [Approval.from_row(r) for r in rows]

    def add_checklist(
        self,
        promotion_id: int,
        *,
        item: str,
        kind: ItemKind,
        ok: bool,
        detail: str,
        by: str,
        uid: int | None,
        message: str,
        now: float,
    ) -> list[Event]:
        """Record a tick or a command run of a waiting promotion's checklist item."""
        with transaction(self._conn):
            self._waiting(promotion_id)
            self._conn.execute(
                "INSERT INTO checklist (promotion_id, item, kind, ok, detail, by_account,"
                " by_uid, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (promotion_id, item, kind, int(ok), detail, by, uid, now),
            )
            return [insert_event(self._conn, "gate", message, now=now)]

    def checklist(self, promotion_id: int) -> list[ChecklistEntry]:
        """Every tick and run of a promotion's checklist, oldest first."""
        rows = self._all("SELECT * FROM checklist WHERE promotion_id = ? ORDER BY id", promotion_id)
        return [ChecklistEntry.from_row(r) for r in rows]

    def add_freeze(
        self, *, until: float, reason: str, by: str, uid: int | None, message: str, now: float
    ) -> tuple[Freeze, list[Event]]:
        with transaction(self._conn):
            cursor = self._conn.execute(
                "INSERT INTO freezes (until, reason, by_account, by_uid, at)"
                " VALUES (?, ?, ?, ?, ?)",
                (until, reason, by, uid, now),
            )
            event = insert_event(self._conn, "gate", message, now=now)
        assert cursor.lastrowid is not None
        row = self._one("SELECT * FROM freezes WHERE id = ?", cursor.lastrowid)
        assert row is not None
        return Freeze.from_row(row), [event]

    def lift_freezes(
        self, *, by: str, message: str, now: float
    ) -> tuple[list[Freeze], list[Event]]:
        """Lift every freeze in force at `now` (none: nothing written)."""
        with transaction(self._conn):
            active = [f for f in self.freezes() if f.active(now)]
            if not active:
                return [], []
            for freeze in active:
                self._conn.execute(
                    "UPDATE freezes SET lifted_at = ?, lifted_by = ? WHERE id = ?",
                    (now, by, freeze.id),
                )
            return active, [insert_event(self._conn, "gate", message, now=now)]

    def freezes(self, limit: int = 100) -> list[Freeze]:
        """The newest freezes first, lifted and ended ones included."""
        rows = self._all("SELECT * FROM freezes ORDER BY id DESC LIMIT ?", limit)
        return [Freeze.from_row(r) for r in rows]

    def _waiting(self, promotion_id: int) -> None:
        row = self._one("SELECT state, version FROM promotions WHERE id = ?", promotion_id)
        if row is None or row["state"] != "waiting":
            state = "unknown" if row is None else row["state"]
            raise Conflict(f"promotion #{promotion_id} is not waiting (it is {state})")
