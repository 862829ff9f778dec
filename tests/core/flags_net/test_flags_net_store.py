"""One transaction per flag change: the change and its `flags` events commit together, so a
failure between the two writes leaves neither (and the served document unchanged)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import changeover.store.flags as store_flags
from changeover.agent.events import EventLog
from changeover.agent.flags import FlagService
from changeover.store import Event, Store
from changeover.store.journal import insert_event
from tests.io.flags_net._net import rollout_flag

NOW = 1_760_000_000.0
SEGMENT = {"id": 3, "constraints": [{"contextName": "country", "operator": "IN", "values": ["DE"]}]}


class DiskGone(Exception):
    pass


def fail_event(monkeypatch: pytest.MonkeyPatch, on_call: int = 1) -> list[str]:
    """Make the `on_call`-th event insert of a change raise; returns the messages tried."""
    tried: list[str] = []

    def insert(conn: Any, kind: str, message: str, **kwargs: Any) -> Event:
        tried.append(message)
        if len(tried) == on_call:
            raise DiskGone("the event insert failed")
        return insert_event(conn, kind, message, **kwargs)

    monkeypatch.setattr(store_flags, "insert_event", insert)
    return tried


def snapshot(store: Store) -> tuple[Any, ...]:
    flags = [
        (r.name, r.definition, r.archived, r.updated_by) for r in store.flag_records(archived=True)
    ]
    segments = [(s.id, s.definition) for s in store.segment_records()]
    return flags, segments, [(e.kind, e.message) for e in store.events()]


@pytest.fixture
def seeded(store: Store) -> FlagService:
    service = FlagService(store, EventLog(store), wall=lambda: NOW)
    service.put({"features": [rollout_flag()], "segments": [SEGMENT]}, by="ann", source="f")
    return service


Change = Callable[[FlagService], object]
CHANGES: dict[str, Change] = {
    "create": lambda s: s.put(rollout_flag("other"), by="bob", source="f"),
    "edit": lambda s: s.put({**rollout_flag(), "enabled": False}, by="bob", source="f"),
    "disable": lambda s: s.set_enabled("checkout", False, by="bob"),
    "enable": lambda s: s.set_enabled("checkout", True, by="bob"),
    "rollout": lambda s: s.set_rollout("checkout", 50, by="bob"),
    "archive": lambda s: s.archive("checkout", by="bob"),
    "segment": lambda s: s.put(
        {"segments": [{**SEGMENT, "constraints": []}]}, by="bob", source="f"
    ),
}


@pytest.mark.parametrize("kind", CHANGES)
def test_a_failing_event_insert_leaves_neither_the_change_nor_its_event(
    store: Store, seeded: FlagService, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    if kind == "enable":  # so that enabling changes something
        seeded.set_enabled("checkout", False, by="x")
    before, served = snapshot(store), (seeded.body, seeded.etag, seeded.generation)
    tried = fail_event(monkeypatch)
    with pytest.raises(DiskGone):
        CHANGES[kind](seeded)
    assert tried, "the change never reached its event insert"
    assert snapshot(store) == before
    assert (seeded.body, seeded.etag, seeded.generation) == served
    assert FlagService(store, EventLog(store)).etag == seeded.etag  # a restart serves the same


def test_a_change_of_two_flags_is_all_or_nothing_up_to_its_last_event(
    store: Store, seeded: FlagService, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(store)
    tried = fail_event(monkeypatch, on_call=2)
    doc = {"features": [rollout_flag("a"), rollout_flag("b")]}
    with pytest.raises(DiskGone):
        seeded.put(doc, by="bob", source="f")
    assert tried == ["bob created flag 'a': on, 10%", "bob created flag 'b': on, 10%"]
    assert snapshot(store) == before


def test_without_a_failure_the_change_and_its_events_land_together(
    store: Store, seeded: FlagService
) -> None:
    events_before = len(store.events())
    seeded.set_rollout("checkout", 50, by="bob")
    flag = store.flag("checkout")
    new = store.events()[events_before:]
    assert [(e.kind, e.message, e.ts) for e in new] == [
        ("flags", "bob changed flag 'checkout': rollout 10% -> 50%", NOW)
    ]
    assert (flag.updated_by, flag.updated_at) == ("bob", NOW)


def test_the_store_method_rolls_back_an_archive_with_its_event(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save_flags([rollout_flag()], by="ann", now=1.0)
    fail_event(monkeypatch)
    with pytest.raises(DiskGone):
        store.change_flags(archive="checkout", messages=["ann archived"], by="ann", now=2.0)
    assert store.flag("checkout").archived is False
    assert store.events() == []
    events = [e.message for e in store.events()]
    monkeypatch.undo()
    stored = store.change_flags(archive="checkout", messages=["ann archived"], by="ann", now=2.0)
    assert [e.message for e in stored] == [*events, "ann archived"]
    assert store.flag("checkout").archived is True
