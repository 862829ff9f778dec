"""Revisions round-trip, keep one stable, and know what was stable before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from changeover.rollout.phase import Phase
from changeover.store import NotFound, RevisionStatus, RolloutKind, Store
from changeover.store.schema import MIGRATIONS, connect, migrate
from tests.io.store._helpers import db_path, new_revision, roll


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(db_path(tmp_path)) as s:
        yield s


def test_create_revision_round_trips(store: Store) -> None:
    spec = {"name": "app", "probes": {"ready": {"path": "/healthz"}}, "ports": [1, 2]}
    rev = store.create_revision(
        version="1.2.3",
        path="/srv/a",
        command="./run --fast",
        env={"A": "1", "B": "é"},
        spec=spec,
        replicas=3,
        source_revision=None,
        now=123.5,
    )
    again = store.revision(rev.id)
    assert again == rev
    assert (again.version, again.path, again.command) == ("1.2.3", "/srv/a", "./run --fast")
    assert again.env == {"A": "1", "B": "é"}
    assert again.spec == spec
    assert (again.replicas, again.status, again.created_at) == (3, RevisionStatus.PENDING, 123.5)


def test_revisions_are_newest_first(store: Store) -> None:
    ids = [new_revision(store, f"v{i}").id for i in range(3)]
    assert [r.id for r in store.revisions()] == ids[::-1]


def test_source_revision_is_kept(store: Store) -> None:
    first = new_revision(store)
    copy = store.create_revision(
        version="v", path="/p", command="c", env={}, spec={}, replicas=1,
        source_revision=first.id, now=2.0,
    )  # fmt: skip
    assert store.revision(copy.id).source_revision == first.id


def test_unknown_revision_is_a_clear_not_found(store: Store) -> None:
    with pytest.raises(NotFound) as info:
        store.revision(42)
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "no revision r42"
    with pytest.raises(NotFound):
        store.set_revision_status(42, RevisionStatus.FAILED)


def test_making_a_revision_stable_supersedes_the_old_one(store: Store) -> None:
    a, b = new_revision(store), new_revision(store)
    store.set_revision_status(a.id, RevisionStatus.STABLE)
    store.set_revision_status(b.id, RevisionStatus.STABLE)
    assert store.revision(a.id).status is RevisionStatus.SUPERSEDED
    assert store.stable_revision() == store.revision(b.id)


def test_no_stable_revision_before_any_rollout(store: Store) -> None:
    new_revision(store)
    assert store.stable_revision() is None


@pytest.fixture
def history(store: Store) -> Store:
    """r1 -> r2 -> r3 succeeded, r3 -> r4 failed."""
    r1, r2, r3, r4 = (new_revision(store, f"v{i}").id for i in range(1, 5))
    roll(store, None, r1, kind=RolloutKind.INITIAL)
    roll(store, r1, r2)
    roll(store, r2, r3)
    roll(store, r3, r4, Phase.FAILED)
    return store


def test_previous_stable_skips_the_failed_deploy(history: Store) -> None:
    stable = history.stable_revision()
    assert stable is not None
    assert stable.id == 3
    assert history.revision(4).status is RevisionStatus.FAILED
    prev = history.previous_stable(3)
    assert prev is not None
    assert prev.id == 2


def test_undo_twice_toggles_back(history: Store) -> None:
    roll(history, 3, 2, kind=RolloutKind.UNDO)
    assert [history.stable_revision(), history.previous_stable(2)] == [
        history.revision(2),
        history.revision(3),
    ]
    roll(history, 2, 3, kind=RolloutKind.UNDO)
    prev = history.previous_stable(3)
    assert prev is not None
    assert prev.id == 2


def test_previous_stable_skips_a_revision_that_failed_since(history: Store) -> None:
    r5 = new_revision(history, "v5").id
    roll(history, 3, r5)
    roll(history, r5, 3, Phase.FAILED, kind=RolloutKind.UNDO)  # undo to r3 failed
    prev = history.previous_stable(r5)
    assert prev is not None
    assert prev.id == 2  # r3 failed since, so what was stable before r3


def test_previous_stable_of_the_first_revision_is_none(history: Store) -> None:
    assert history.previous_stable(1) is None
    assert history.previous_stable(4) is None  # never became stable


def test_secret_sources_round_trip_and_default_to_none(store: Store) -> None:
    sources = {"DATABASE_URL": "/srv/app/.env", "TOKEN": "environment"}
    rev = store.create_revision(
        version="v", path="/p", command="c", env={"DATABASE_URL": "hmac-sha256:0011"},
        spec={}, replicas=1, secret_sources=sources, now=1.0,
    )  # fmt: skip
    assert store.revision(rev.id).secret_sources == sources
    assert new_revision(store).secret_sources == {}


def test_revisions_stored_before_secrets_have_no_sources(tmp_path: Path) -> None:
    conn = connect(db_path(tmp_path))
    migrate(conn, MIGRATIONS[:4])  # the schema before secret_sources
    conn.execute(
        "INSERT INTO revisions (version, path, command, env, spec, replicas, status, created_at)"
        " VALUES ('v1', '/p', 'c', '{}', '{}', 1, 'stable', 1.0)"
    )
    conn.close()
    with Store.open(db_path(tmp_path)) as store:
        assert store.revision(1).secret_sources == {}
        assert store.revision(1).status is RevisionStatus.STABLE
