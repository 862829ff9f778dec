"""The store's flags and segments: upserts, archive, the served document, one transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from changeover.store import Conflict, NotFound, Store
from changeover.store.schema import MIGRATIONS, connect, migrate, user_version


def feature(name: str, enabled: bool = True, **extra: Any) -> dict[str, Any]:
    return {"name": name, "enabled": enabled, **extra}


def test_the_flags_migration_upgrades_a_version_2_database(tmp_path: Path) -> None:
    conn = connect(tmp_path / "old.db")
    migrate(conn, MIGRATIONS[:2])
    assert user_version(conn) == 2
    assert migrate(conn) == len(MIGRATIONS) >= 3
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"flags", "flag_segments"} <= tables
    conn.close()


def test_saved_flags_record_who_and_when_and_keep_the_creation(store: Store) -> None:
    store.save_flags([feature("b"), feature("a")], by="ann@box", now=10.0)
    store.save_flags([feature("a", False)], by="bob@box", now=20.0)
    a = store.flag("a")
    assert (a.definition, a.archived) == (feature("a", False), False)
    assert (a.created_at, a.created_by, a.updated_at, a.updated_by) == (
        10.0,
        "ann@box",
        20.0,
        "bob@box",
    )
    assert [r.name for r in store.flag_records()] == ["a", "b"]


def test_unknown_flag_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no flag named 'nope'"):
        store.flag("nope")
    with pytest.raises(NotFound):
        store.archive_flag("nope", by="x", now=1.0)


def test_the_document_serves_live_flags_by_name_and_segments_by_id(store: Store) -> None:
    segment = {"id": 7, "constraints": [{"contextName": "region", "operator": "IN"}]}
    store.save_flags([feature("z"), feature("m")], [segment, {"id": 2}], by="x", now=1.0)
    store.archive_flag("z", by="x", now=2.0)
    assert store.flags_document() == {
        "version": 2,
        "features": [feature("m")],
        "segments": [{"id": 2}, segment],
    }


def test_archive_keeps_the_row_and_saving_brings_it_back(store: Store) -> None:
    store.save_flags([feature("old")], by="ann", now=1.0)
    store.archive_flag("old", by="bob", now=2.0)
    gone = store.flag("old")
    assert (gone.archived, gone.updated_by, gone.created_by) == (True, "bob", "ann")
    assert store.flag_records() == []
    assert [r.name for r in store.flag_records(archived=True)] == ["old"]
    with pytest.raises(Conflict, match="already archived"):
        store.archive_flag("old", by="bob", now=3.0)
    store.save_flags([feature("old")], by="cid", now=4.0)
    assert store.flag("old").archived is False


def test_a_failing_write_stores_nothing(store: Store) -> None:
    unencodable = feature("bad", extra={1, 2})  # a set is not JSON: fails mid-transaction
    with pytest.raises(TypeError):
        store.save_flags([feature("first"), unencodable], by="x", now=1.0)
    assert store.flag_records(archived=True) == []


def test_flags_survive_reopening(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        store.save_flags([feature("kept", owner="team")], [{"id": 1}], by="x", now=1.0)
        before = store.flags_document()
    with Store.open(tmp_path / "s.db") as store:
        assert store.flags_document() == before


def test_definitions_are_checked_by_the_database_not_only_by_us(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store._conn.execute(
            "INSERT INTO flags VALUES ('x', '{}', 2, 1.0, 'a', 1.0, 'a')"
        )  # archived is 0 or 1
