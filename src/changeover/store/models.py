"""Typed, immutable views of stored rows, and the store's errors.

Invariant: callers only ever see these frozen dataclasses, never `sqlite3.Row`, so a
schema change is absorbed here instead of leaking into the agent.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from changeover.rollout.phase import Phase
from changeover.spec.strategy import StrategyName


class RevisionStatus(enum.StrEnum):
    PENDING = "pending"  # created, never rolled out
    PROGRESSING = "progressing"  # target of the active rollout
    STABLE = "stable"  # the one revision serving when no rollout runs
    FAILED = "failed"  # its last rollout failed, was aborted or interrupted
    SUPERSEDED = "superseded"  # was stable, replaced by a newer stable one


class RolloutKind(enum.StrEnum):
    INITIAL = "initial"  # first revision at start-up, nothing to replace
    DEPLOY = "deploy"  # a new revision
    UNDO = "undo"  # back to an earlier revision
    RESTORE = "restore"  # agent restart re-launching the stable revision


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class NotFound(StoreError, KeyError):
    """No row with that id."""

    def __str__(self) -> str:
        # KeyError would quote the message; we want it read as a sentence
        return str(self.args[0]) if self.args else "not found"


class Conflict(StoreError):
    """The write contradicts the stored state (e.g. a second active rollout)."""


@dataclass(frozen=True)
class Revision:
    id: int
    version: str
    path: str
    command: str
    env: dict[str, str]  # a secret's value is never here: its digest stands for it
    spec: dict[str, Any]  # the full validated service spec, as JSON
    replicas: int
    status: RevisionStatus
    created_at: float  # wall clock
    source_revision: int | None  # the revision this one was copied from (undo), if any
    # secret name -> where it is read when a replica starts (an env file, "environment")
    secret_sources: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Revision:
        return cls(
            id=row["id"],
            version=row["version"],
            path=row["path"],
            command=row["command"],
            env=json.loads(row["env"]),
            spec=json.loads(row["spec"]),
            replicas=row["replicas"],
            status=RevisionStatus(row["status"]),
            created_at=row["created_at"],
            source_revision=row["source_revision"],
            secret_sources=json.loads(row["secret_sources"]),
        )


@dataclass(frozen=True)
class Rollout:
    id: int
    from_revision: int | None
    to_revision: int
    kind: RolloutKind
    strategy: StrategyName
    phase: Phase
    reason: str
    started_at: float
    finished_at: float | None

    @property
    def active(self) -> bool:
        return self.finished_at is None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Rollout:
        return cls(
            id=row["id"],
            from_revision=row["from_revision"],
            to_revision=row["to_revision"],
            kind=RolloutKind(row["kind"]),
            strategy=StrategyName(row["strategy"]),
            phase=Phase(row["phase"]),
            reason=row["reason"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
        )


@dataclass(frozen=True)
class Event:
    id: int
    ts: float
    rollout_id: int | None
    revision: int | None
    kind: str
    message: str


@dataclass(frozen=True)
class ReplicaRecord:
    id: str  # e.g. "r3-1"
    revision: int
    pid: int
    pgid: int
    create_time: float  # psutil create_time: tells a live replica from a reused pid
    started_at: float
    port: int | None = None  # where it serves; None in records older than the column
