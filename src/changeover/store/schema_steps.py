"""Each revision's database schema state: which migration step ran last, how it ended.

Invariant: a state changes only through `changeover.migrations.state.TABLE`, and each
change is written with its `migration` event in one transaction, so the events say
exactly what the records hold. Nothing stored here holds a secret: the output kept is
redacted by the caller (`migrations.output`), the command is the spec's text.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from changeover.migrations.decide import Record
from changeover.migrations.state import TABLE, Move, SchemaState, Step
from changeover.store.journal import insert_event
from changeover.store.models import Conflict, Event
from changeover.store.schema import Connected, transaction

INTERRUPTED = "the agent stopped while it ran: check the schema (`changeover migrate status`)"


@dataclass(frozen=True)
class SchemaRecord:
    revision: int
    state: SchemaState
    step: Step  # the last step started
    command: str
    exit_code: int | None  # None while running, or when it never started
    duration: float | None
    detail: str  # the redacted tail of its output, or why it failed
    schema: str  # the last line of the status command after it
    at: float
    expanded_at: float | None
    contracted_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SchemaRecord:
        return cls(
            row["revision"],
            SchemaState(row["state"]),
            Step(row["step"]),
            row["command"],
            row["exit_code"],
            row["duration"],
            row["detail"],
            row["schema"],
            row["at"],
            row["expanded_at"],
            row["contracted_at"],
        )

    def record(self) -> Record:
        return Record(self.revision, self.state, self.at, self.contracted_at)


class SchemaStepsMixin(Connected):
    def schema_record(self, revision: int) -> SchemaRecord | None:
        row = self._one("SELECT * FROM schema_steps WHERE revision = ?", revision)
        return None if row is None else SchemaRecord.from_row(row)

    def schema_records(self) -> list[SchemaRecord]:
        rows = self._all("SELECT * FROM schema_steps ORDER BY revision")
        return [SchemaRecord.from_row(r) for r in rows]

    def schema_start(
        self,
        revision: int,
        step: Step,
        command: str,
        *,
        message: str,
        now: float,
        rollout_id: int | None = None,
    ) -> tuple[SchemaRecord, Event]:
        with transaction(self._conn):
            before = self.schema_record(revision)
            state = self._moved(revision, before, Move.start(step))
            self._conn.execute(
                "INSERT INTO schema_steps (revision, state, step, command, at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (revision) DO UPDATE SET "
                "state = excluded.state, step = excluded.step, command = excluded.command, "
                "exit_code = NULL, duration = NULL, detail = '', at = excluded.at",
                (revision, state.value, step.value, command, now),
            )
            event = insert_event(
                self._conn, "migration", message, now=now, rollout_id=rollout_id, revision=revision
            )
        record = self.schema_record(revision)
        assert record is not None
        return record, event

    def schema_end(
        self,
        revision: int,
        *,
        ok: bool,
        exit_code: int | None,
        duration: float | None,
        detail: str,
        message: str,
        now: float,
        rollout_id: int | None = None,
    ) -> tuple[SchemaRecord, Event]:
        with transaction(self._conn):
            before = self.schema_record(revision)
            state = self._moved(revision, before, Move.SUCCEEDED if ok else Move.FAILED)
            stamps = ""
            if state is SchemaState.EXPANDED:
                stamps = ", expanded_at = :now"
            elif state is SchemaState.CONTRACTED:
                stamps = ", contracted_at = :now"
            self._conn.execute(
                "UPDATE schema_steps SET state = :state, exit_code = :code, duration = :duration,"
                f" detail = :detail, at = :now{stamps} WHERE revision = :revision",
                {
                    "state": state.value,
                    "code": exit_code,
                    "duration": duration,
                    "detail": detail,
                    "now": now,
                    "revision": revision,
                },
            )
            event = insert_event(
                self._conn, "migration", message, now=now, rollout_id=rollout_id, revision=revision
            )
        record = self.schema_record(revision)
        assert record is not None
        return record, event

    def note_schema(self, revision: int, schema: str) -> None:
        """The status command's answer after a step (redacted by the caller)."""
        with transaction(self._conn):
            self._conn.execute(
                "UPDATE schema_steps SET schema = ? WHERE revision = ?", (schema, revision)
            )

    def interrupt_schema_steps(self, now: float) -> list[Event]:
        """On agent start-up: a step a dead agent left running counts as failed."""
        events = []
        with transaction(self._conn):
            for row in self._all("SELECT * FROM schema_steps"):
                record = SchemaRecord.from_row(row)
                if not record.state.running:
                    continue
                state = TABLE.transition(record.state, Move.FAILED)
                self._conn.execute(
                    "UPDATE schema_steps SET state = ?, detail = ?, at = ? WHERE revision = ?",
                    (state.value, INTERRUPTED, now, record.revision),
                )
                message = (
                    f"{record.step.value} of revision {record.revision} "
                    f"(`{record.command}`) is {state.value}: {INTERRUPTED}"
                )
                events.append(
                    insert_event(
                        self._conn, "migration", message, now=now, revision=record.revision
                    )
                )
        return events

    def _moved(self, revision: int, before: SchemaRecord | None, move: Move) -> SchemaState:
        state = SchemaState.NONE if before is None else before.state
        if not TABLE.can(state, move):
            raise Conflict(
                f"revision {revision}'s schema is {state.value}: it cannot take {move.value}"
            )
        return TABLE.transition(state, move)
