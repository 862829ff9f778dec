"""Trimming the events table keeps the newest N, in one transaction, and ids go on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from changeover.agent.events import EventLog
from changeover.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state.db") as s:
        yield s


def test_trimming_keeps_the_newest_and_ids_continue(store: Store) -> None:
    added = [store.add_event("note", f"e{i}", now=float(i)) for i in range(10)]
    assert store.trim_events(4) == 6
    assert store.events() == added[-4:]
    assert store.last_event_id() == added[-1].id
    after = store.add_event("note", "next", now=11.0)
    assert after.id == added[-1].id + 1  # never reuses a trimmed id
    assert store.events(after_id=added[-1].id) == [after]
    assert store.events(after_id=0, limit=2) == added[-4:-2]  # an old cursor still pages


def test_trimming_fewer_than_keep_changes_nothing(store: Store) -> None:
    assert store.trim_events(5) == 0
    added = [store.add_event("note", f"e{i}", now=float(i)) for i in range(5)]
    assert store.trim_events(5) == 0
    assert store.events() == added


def test_ids_continue_even_when_the_newest_event_was_trimmed_away(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path) as store:
        added = [store.add_event("note", f"e{i}", now=float(i)) for i in range(3)]
        store.trim_events(1)
    with Store.open(path) as store:  # AUTOINCREMENT survives a reopen
        assert store.add_event("note", "later", now=9.0).id == added[-1].id + 1


def test_keep_must_be_positive(store: Store) -> None:
    with pytest.raises(ValueError, match="keep must be at least 1, got 0"):
        store.trim_events(0)


def test_a_long_poll_from_a_trimmed_cursor_still_returns_new_events(store: Store) -> None:
    log = EventLog(store, lambda: 1.0)
    for i in range(5):
        log.add("note", f"e{i}")
    store.trim_events(2)

    async def poll() -> list[str]:
        waiter = asyncio.ensure_future(log.wait_after(store.last_event_id(), timeout=5.0))
        await asyncio.sleep(0)
        log.add("note", "new")
        return [e.message for e in await waiter]

    assert asyncio.run(poll()) == ["new"]
    assert [e.message for e in asyncio.run(log.wait_after(1, timeout=0))] == ["e3", "e4", "new"]
