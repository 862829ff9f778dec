"""Approvals, rejections, ticks and freezes in the store: only a waiting promotion takes
them, each with its `gate` event; a rejection ends the waiting; starting one promotion
supersedes the others waiting; rows written before the gates existed read as started."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from changeover.store import Conflict, RolloutKind, Store
from changeover.store.schema import MIGRATIONS, connect, migrate
from tests.io.store._helpers import db_path, new_revision, roll

ASK: dict[str, Any] = {
    "sha256": "a" * 64, "environment": "prod", "from_environment": "staging",
    "hotfix": False, "kind": "promote", "spec_file": "changeover.toml",
    "requested_by": "alice", "requested_uid": 1001,
}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(db_path(tmp_path)) as s:
        roll(s, None, new_revision(s, "v1").id, kind=RolloutKind.INITIAL)
        yield s


def verdict(store: Store, pid: int, kind: str, by: str) -> list[Any]:
    return store.add_verdict(pid, verdict=kind, by=by, uid=None, note="n",  # type: ignore[arg-type]
                             message=f"{kind} by {by}", now=5.0)  # fmt: skip


def test_a_promotion_is_recorded_waiting_and_takes_approvals_once_each(store: Store) -> None:
    p = store.record_promotion(version="1.0.0", **ASK, now=1.0)
    assert (p.state, store.waiting_promotion("1.0.0", "a" * 64), store.waiting_of("1.0.0")) == (
        "waiting", p, p,
    )  # fmt: skip
    (event,) = verdict(store, p.id, "approve", "bob")
    assert (event.kind, event.message) == ("gate", "approve by bob")
    with pytest.raises(Conflict, match="bob approved promotion #1 already"):
        verdict(store, p.id, "approve", "bob")
    verdict(store, p.id, "reject", "carol")
    assert store.promotion(p.id).state == "rejected"
    assert [(a.verdict, a.by) for a in store.approvals(p.id)] == [
        ("approve", "bob"), ("reject", "carol"),
    ]  # fmt: skip
    with pytest.raises(Conflict, match="is not waiting \\(it is rejected\\)"):
        verdict(store, p.id, "approve", "dave")
    with pytest.raises(Conflict):
        store.add_checklist(p.id, item="x", kind="manual", ok=True, detail="", by="bob",
                            uid=None, message="m", now=6.0)  # fmt: skip
    assert store.waiting_of("1.0.0") is None


def test_starting_one_promotion_supersedes_the_others_waiting(store: Store) -> None:
    first = store.record_promotion(version="1.0.0", **ASK, now=1.0)
    second = store.record_promotion(version="1.1.0", **{**ASK, "sha256": "b" * 64}, now=2.0)
    target = new_revision(store, "1.1.0")
    rollout = store.start_rollout(from_revision=1, to_revision=target.id, kind="deploy",
                                  strategy="rolling", now=3.0)  # fmt: skip
    linked, events = store.link_promotion(second.id, revision=target.id, rollout_id=rollout.id,
                                          message="started", now=4.0)  # fmt: skip
    assert (linked.state, linked.state_at) == ("started", 4.0)
    assert store.promotion(first.id).state == "superseded"
    assert [e.message for e in events] == [
        "started",
        "promotion #1 of 1.0.0 superseded: promotion #2 of 1.1.0 started first "
        "(ask again to promote it)",
    ]


def test_freezes_are_lifted_by_stamping_never_deleted(store: Store) -> None:
    freeze, _ = store.add_freeze(until=100.0, reason="r", by="bob", uid=1, message="m", now=10.0)
    assert freeze.active(50.0)
    assert not freeze.active(100.0)
    lifted, events = store.lift_freezes(by="alice", message="lifted", now=20.0)
    assert [f.id for f in lifted] == [freeze.id]
    assert [e.message for e in events] == ["lifted"]
    (kept,) = store.freezes()
    assert (kept.lifted_at, kept.lifted_by, kept.active(50.0)) == (20.0, "alice", False)
    assert store.lift_freezes(by="alice", message="again", now=30.0) == ([], [])


def test_evaluations_are_kept_with_their_events(store: Store) -> None:
    p = store.record_promotion(version="1.0.0", **ASK, now=1.0)
    gates = [{"gate": "freezes", "item": None, "state": "met"}]
    (event,) = store.note_evaluation(p.id, evidence={"served": 3}, gates=gates,
                                     messages=["freezes met"], now=2.0)  # fmt: skip
    kept = store.promotion(p.id)
    assert (kept.evidence, kept.gates, event.message) == ({"served": 3}, gates, "freezes met")
    store.note_evaluation(p.id, evidence=None, gates=[], messages=[], now=3.0)
    assert store.promotion(p.id).evidence == {"served": 3}  # no new evidence: the last kept


def test_promotions_recorded_before_the_gates_read_as_started(tmp_path: Path) -> None:
    conn = connect(db_path(tmp_path))
    before = MIGRATIONS.index(next(m for m in MIGRATIONS if any("approvals" in s for s in m)))
    migrate(conn, MIGRATIONS[:before])
    conn.execute(
        "INSERT INTO promotions (version, sha256, environment, hotfix, kind, spec_file,"
        " requested_by, requested_at) VALUES ('1.0.0', ?, 'prod', 0, 'promote', 'c', 'a', 1.0)",
        ("a" * 64,),
    )
    conn.close()
    with Store.open(db_path(tmp_path)) as store:
        (p,) = store.promotions()
        assert (p.state, p.gates, p.evidence) == ("started", None, None)
