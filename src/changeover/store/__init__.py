"""Durable agent state in SQLite: revisions, rollouts, events and running replicas."""

from changeover.store.models import (
    Conflict,
    Event,
    NotFound,
    ReplicaRecord,
    Revision,
    RevisionStatus,
    Rollout,
    RolloutKind,
    StoreError,
)
from changeover.store.store import DB_NAME, Store

__all__ = [
    "DB_NAME",
    "Conflict",
    "Event",
    "NotFound",
    "ReplicaRecord",
    "Revision",
    "RevisionStatus",
    "Rollout",
    "RolloutKind",
    "Store",
    "StoreError",
]
