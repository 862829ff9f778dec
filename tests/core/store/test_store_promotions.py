"""Promotions in the store: recorded before their rollout, linked once with their event,
read with their rollout's live phase, newest first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from changeover.rollout.phase import Phase
from changeover.store import Conflict, NotFound, RolloutKind, Store
from tests.io.store._helpers import db_path, new_revision, roll

ASK: dict[str, Any] = {
    "sha256": "a" * 64,
    "environment": "staging",
    "from_environment": "dev",
    "hotfix": False,
    "kind": "promote",
    "spec_file": "changeover.toml",
    "requested_by": "alice",
    "requested_uid": 1000,
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(db_path(tmp_path)) as s:
        roll(s, None, new_revision(s, "v1").id, kind=RolloutKind.INITIAL)
        yield s


def test_a_promotion_is_recorded_then_linked_with_its_event(store: Store) -> None:
    promotion = store.record_promotion(version="1.0.0", **ASK, now=50.0)
    assert (promotion.revision, promotion.rollout_id, promotion.phase) == (None, None, None)
    target = new_revision(store, "1.0.0")
    rollout = store.start_rollout(
        from_revision=1, to_revision=target.id, kind="deploy", strategy="rolling", now=51.0
    )
    linked, (event,) = store.link_promotion(
        promotion.id, revision=target.id, rollout_id=rollout.id, message="promoted", now=52.0
    )
    assert (linked.revision, linked.rollout_id, linked.phase) == (
        target.id,
        rollout.id,
        "progressing",
    )
    assert (event.kind, event.rollout_id, event.revision, event.message) == (
        "promotion", rollout.id, target.id, "promoted",
    )  # fmt: skip
    assert (linked.requested_by, linked.requested_uid, linked.requested_at) == ("alice", 1000, 50.0)
    store.finish_rollout(rollout.id, phase=Phase.SUCCEEDED, reason="", now=60.0)
    assert store.promotion(promotion.id).phase == "succeeded"  # read live from the rollout


def test_a_linked_promotion_is_never_relinked_nor_forgotten(store: Store) -> None:
    promotion = store.record_promotion(version="1.0.0", **ASK, now=50.0)
    rollout_id = roll(store, 1, new_revision(store, "1.0.0").id)
    store.link_promotion(promotion.id, revision=2, rollout_id=rollout_id, message="m", now=1.0)
    with pytest.raises(Conflict, match="already started rollout"):
        store.link_promotion(promotion.id, revision=2, rollout_id=rollout_id, message="m", now=1.0)
    with pytest.raises(Conflict, match="stays on record"):
        store.forget_promotion(promotion.id)


def test_a_refused_promotion_is_forgotten(store: Store) -> None:
    promotion = store.record_promotion(version="1.0.0", **ASK, now=50.0)
    events = store.last_event_id()
    store.forget_promotion(promotion.id)
    with pytest.raises(NotFound):
        store.promotion(promotion.id)
    assert store.last_event_id() == events  # no event was written for it


def test_promotions_are_listed_newest_first_by_version(store: Store) -> None:
    for n, version in enumerate(["1.0.0", "1.1.0", "1.0.0"]):
        store.record_promotion(version=version, **{**ASK, "hotfix": n == 2}, now=float(n))
    assert [p.id for p in store.promotions()] == [3, 2, 1]
    assert [(p.id, p.hotfix) for p in store.promotions("1.0.0")] == [(3, True), (1, False)]
    assert [p.id for p in store.promotions(limit=1)] == [3]
    assert store.promotions("9.9.9") == []


def test_the_kind_is_checked_by_the_schema(store: Store) -> None:
    with pytest.raises(Exception, match="CHECK constraint"):
        store.record_promotion(version="1.0.0", **{**ASK, "kind": "sideways"}, now=1.0)
