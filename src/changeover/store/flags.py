"""Feature flags and segments as the agent serves them, with who changed them and when.

Invariant: a row holds one Unleash object as JSON (a feature, named by its `name`; a
segment, by its `id`), and the served document is exactly the live flags by name plus the
segments by id, so the same rows always give the same document. Archiving keeps the row
(its history and name stay), and `save_flags` brings an archived flag back. Every write
is one transaction, and `change_flags` writes a change and its `flags` events in the same
one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from changeover.store.journal import insert_event
from changeover.store.models import Conflict, Event, NotFound
from changeover.store.schema import Connected, transaction

DOCUMENT_VERSION = 2  # the Unleash client API document version served


@dataclass(frozen=True)
class FlagRecord:
    name: str
    definition: dict[str, Any]  # one Unleash feature object, as validated and stored
    archived: bool
    created_at: float
    created_by: str
    updated_at: float
    updated_by: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> FlagRecord:
        return cls(
            row["name"],
            json.loads(row["definition"]),
            bool(row["archived"]),
            row["created_at"],
            row["created_by"],
            row["updated_at"],
            row["updated_by"],
        )


@dataclass(frozen=True)
class SegmentRecord:
    id: int
    definition: dict[str, Any]  # one Unleash segment object
    updated_at: float
    updated_by: str


class FlagsMixin(Connected):
    def flag(self, name: str) -> FlagRecord:
        row = self._one("SELECT * FROM flags WHERE name = ?", name)
        if row is None:
            raise NotFound(f"no flag named {name!r}")
        return FlagRecord.from_row(row)

    def flag_records(self, *, archived: bool = False) -> list[FlagRecord]:
        """Live flags by name; with `archived`, the archived ones too."""
        where = "" if archived else " WHERE archived = 0"
        return [
            FlagRecord.from_row(r) for r in self._all(f"SELECT * FROM flags{where} ORDER BY name")
        ]

    def segment_records(self) -> list[SegmentRecord]:
        rows = self._all("SELECT * FROM flag_segments ORDER BY id")
        return [
            SegmentRecord(r["id"], json.loads(r["definition"]), r["updated_at"], r["updated_by"])
            for r in rows
        ]

    def flags_document(self) -> dict[str, Any]:
        """The document applications get: `{"version": 2, "features": [...], "segments": [...]}`."""
        return {
            "version": DOCUMENT_VERSION,
            "features": [r.definition for r in self.flag_records()],
            "segments": [s.definition for s in self.segment_records()],
        }

    def save_flags(
        self,
        features: Sequence[Mapping[str, Any]],
        segments: Sequence[Mapping[str, Any]] = (),
        *,
        by: str,
        now: float,
    ) -> None:
        """Insert or replace flags (by name; archived ones come back) and segments (by id)."""
        self.change_flags(features, segments, by=by, now=now)

    def archive_flag(self, name: str, *, by: str, now: float) -> None:
        """Stop serving a flag; its row stays, so `save_flags` can bring it back."""
        self.change_flags(archive=name, by=by, now=now)

    def change_flags(
        self,
        features: Sequence[Mapping[str, Any]] = (),
        segments: Sequence[Mapping[str, Any]] = (),
        *,
        archive: str | None = None,
        messages: Sequence[str] = (),
        by: str,
        now: float,
    ) -> list[Event]:
        """Save `features` and `segments`, archive the flag named `archive`, and append
        `messages` as `flags` events, all in one transaction: a change is never stored
        without its events, nor an event without its change."""
        with transaction(self._conn):
            for feature in features:
                self._conn.execute(
                    "INSERT INTO flags (name, definition, archived, created_at, created_by,"
                    " updated_at, updated_by) VALUES (?, ?, 0, ?, ?, ?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET definition = excluded.definition,"
                    " archived = 0, updated_at = excluded.updated_at,"
                    " updated_by = excluded.updated_by",
                    (str(feature["name"]), _encode(feature), now, by, now, by),
                )
            for segment in segments:
                self._conn.execute(
                    "INSERT INTO flag_segments (id, definition, created_at, created_by,"
                    " updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET definition = excluded.definition,"
                    " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    (int(segment["id"]), _encode(segment), now, by, now, by),
                )
            if archive is not None:
                self._archive(archive, by=by, now=now)
            return [insert_event(self._conn, "flags", m, now=now) for m in messages]

    def _archive(self, name: str, *, by: str, now: float) -> None:
        if self.flag(name).archived:
            raise Conflict(f"flag {name!r} is already archived")
        self._conn.execute(
            "UPDATE flags SET archived = 1, updated_at = ?, updated_by = ? WHERE name = ?",
            (now, by, name),
        )


def _encode(definition: Mapping[str, Any]) -> str:
    return json.dumps(definition, sort_keys=True, separators=(",", ":"))
