"""Small builders shared by the store tests."""

from __future__ import annotations

from pathlib import Path

from changeover.rollout.phase import Phase
from changeover.store import DB_NAME, Revision, RolloutKind, Store


def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / DB_NAME


def new_revision(store: Store, version: str = "v", now: float = 1.0) -> Revision:
    return store.create_revision(
        version=version,
        path=f"/srv/app/{version}",
        command="python -m app",
        env={"PORT": "0"},
        spec={"name": "app", "replicas": 2},
        replicas=2,
        now=now,
    )


def roll(
    store: Store,
    frm: int | None,
    to: int,
    phase: Phase = Phase.SUCCEEDED,
    kind: RolloutKind = RolloutKind.DEPLOY,
) -> int:
    """Start and immediately finish a rollout; return its id."""
    r = store.start_rollout(
        from_revision=frm, to_revision=to, kind=kind, strategy="rolling", now=10.0
    )
    store.finish_rollout(r.id, phase=phase, reason="", now=11.0)
    return r.id
