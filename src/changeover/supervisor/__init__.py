"""Replica processes: spawn, probes, restarts with backoff, graceful termination."""

from changeover.supervisor.backoff import Backoff
from changeover.supervisor.model import Prober, ReplicaInfo, ReplicaTemplate
from changeover.supervisor.orphans import OrphanRecord, kill_orphans
from changeover.supervisor.routing import Routing
from changeover.supervisor.spawn import PosixSpawner, Spawner, SpawnError, SpawnSpec
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import Supervisor

__all__ = [
    "Backoff",
    "OrphanRecord",
    "PosixSpawner",
    "Prober",
    "ReplicaInfo",
    "ReplicaState",
    "ReplicaTemplate",
    "Routing",
    "SpawnError",
    "SpawnSpec",
    "Spawner",
    "Supervisor",
    "kill_orphans",
]
