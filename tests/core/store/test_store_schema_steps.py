"""Each revision's schema state in the store: moves only along the table, each with its
`migration` event in the same transaction; a step left running by a dead agent is
failed (and said so) at the next start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from changeover.migrations.state import SchemaState, Step
from changeover.store import Conflict, RolloutKind, Store
from changeover.store.schema_steps import INTERRUPTED
from tests.io.store._helpers import db_path, new_revision, roll


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(db_path(tmp_path)) as s:
        roll(s, None, new_revision(s, "v1").id, kind=RolloutKind.INITIAL)
        new_revision(s, "v2")
        yield s


def test_expand_then_contract_stamps_both_and_records_each_event(store: Store) -> None:
    record, event = store.schema_start(1, Step.EXPAND, "mig up", message="expand started", now=5.0)
    assert (record.state, record.step, record.command, record.exit_code) == (
        SchemaState.EXPANDING, Step.EXPAND, "mig up", None,
    )  # fmt: skip
    assert (event.kind, event.revision, event.message) == ("migration", 1, "expand started")
    record, _ = store.schema_end(
        1, ok=True, exit_code=0, duration=0.5, detail="done", message="ok", now=6.0
    )
    assert (record.state, record.expanded_at, record.contracted_at) == (
        SchemaState.EXPANDED, 6.0, None,
    )  # fmt: skip
    store.schema_start(1, Step.CONTRACT, "mig contract", message="c", now=7.0)
    record, _ = store.schema_end(
        1, ok=True, exit_code=0, duration=0.1, detail="", message="c ok", now=8.0
    )
    assert (record.state, record.expanded_at, record.contracted_at) == (
        SchemaState.CONTRACTED, 6.0, 8.0,
    )  # fmt: skip
    store.note_schema(1, "head: 0002")
    assert store.schema_record(1).schema == "head: 0002"  # type: ignore[union-attr]
    kinds = [e.message for e in store.events(after_id=0) if e.kind == "migration"]
    assert kinds == ["expand started", "ok", "c", "c ok"]


def test_a_move_off_the_table_changes_nothing(store: Store) -> None:
    with pytest.raises(Conflict, match="schema is none: it cannot take contract"):
        store.schema_start(2, Step.CONTRACT, "c", message="c", now=1.0)
    assert store.schema_record(2) is None
    store.schema_start(2, Step.EXPAND, "e", message="e", now=1.0)
    store.schema_end(2, ok=False, exit_code=3, duration=1.0, detail="boom", message="f", now=2.0)
    with pytest.raises(Conflict):
        store.schema_start(2, Step.CONTRACT, "c", message="c", now=3.0)
    record = store.schema_record(2)
    assert record is not None
    assert (record.state, record.exit_code, record.detail) == (
        SchemaState.EXPAND_FAILED, 3, "boom",
    )  # fmt: skip
    assert [e.message for e in store.events(after_id=0) if e.kind == "migration"] == ["e", "f"]


def test_a_step_a_dead_agent_left_running_is_failed_and_said(store: Store) -> None:
    store.schema_start(1, Step.EXPAND, "e", message="e", now=1.0)
    store.schema_end(1, ok=True, exit_code=0, duration=1.0, detail="", message="ok", now=2.0)
    store.schema_start(2, Step.EXPAND, "e2", message="e2", now=3.0)
    events = store.interrupt_schema_steps(now=9.0)
    assert [(e.revision, e.kind) for e in events] == [(2, "migration")]
    assert "expand of revision 2 (`e2`) is expand-failed" in events[0].message
    record = store.schema_record(2)
    assert record is not None
    assert (record.state, record.detail) == (SchemaState.EXPAND_FAILED, INTERRUPTED)
    assert store.schema_record(1).state is SchemaState.EXPANDED  # type: ignore[union-attr]
    assert store.interrupt_schema_steps(now=10.0) == []
    assert [r.revision for r in store.schema_records()] == [1, 2]
