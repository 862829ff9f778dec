"""Frozen values exchanged with the agent: templates in, replica views out, and the
effects the supervisor is built with.

Invariant: nothing here is mutable, so a `ReplicaInfo` handed to a callback or to the
rollout controller never changes under its reader.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from changeover.spec.models import Probe, Probes, Termination
from changeover.supervisor.probes import ProbeOutcome
from changeover.supervisor.routing import Routing
from changeover.supervisor.spawn import Child, Spawner
from changeover.supervisor.state import ReplicaState

Prober = Callable[[str, int, Probe], Awaitable[ProbeOutcome]]  # (host, port, probe) -> outcome


@dataclass(frozen=True)
class ReplicaTemplate:
    """What every replica of one revision runs."""

    revision: int
    version: str
    command: str  # shlex-split; "{port}" in it selects port mode (no fd 3)
    workdir: Path
    env: dict[str, str]  # the app's complete environment, before the supervisor's additions
    probes: Probes
    termination: Termination
    # secret variables, read for each start (replica id -> values; SpawnError if it
    # cannot); kept out of `env` so no template ever holds a secret's value
    secrets: Callable[[str], Mapping[str, str]] | None = None


@dataclass(frozen=True)
class ReplicaInfo:
    id: str
    revision: int
    version: str
    state: ReplicaState
    pid: int | None  # the running process, which also leads its process group (pgid == pid)
    port: int
    restarts: int
    boot_failures: int
    ready_since: float | None  # clock time it last became READY; None unless READY
    started_at: float | None  # clock time the running process was spawned
    last_error: str  # why its last process ended, or its probe failure counted on
    log_path: Path
    create_time: float | None = None  # psutil create_time of `pid`, the pid-reuse guard
    # the probe failure reported now, without its count ("readiness GET /readyz answered
    # 503"); "" while the probes pass or no process runs (`reports`)
    failing: str = ""


class Escapes(Protocol):
    """Descendants that left a replica's process group (`escapes.EscapeGuard`)."""

    def record(self, replica_id: str, child: Child) -> None: ...
    def kill(self, replica_id: str, child: Child) -> list[int]: ...


@dataclass(frozen=True)
class Hooks:
    routing: Routing
    spawner: Spawner
    clock: Callable[[], float]
    prober: Prober
    on_change: Callable[[], None]
    on_started: Callable[[ReplicaInfo], None]
    on_exited: Callable[[ReplicaInfo], None]
    escapes: Escapes
