"""Fakes of the agent's collaborators, shared by the agent and CLI unit tests.

`FakeAgent` has exactly the attributes the control API and the status documents read,
over any store with the `Store` reading API: the real one (same thread) or `MemoryStore`
(for `TestClient`, which serves from another thread, where sqlite objects cannot go).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from changeover.agent.events import EventLog
from changeover.agent.paths import StatePaths
from changeover.agent.releases import DeployRequest, UndoRequest
from changeover.rollout.decision import Command, Traffic
from changeover.rollout.phase import Phase
from changeover.spec.strategy import StrategyName
from changeover.store import Event, NotFound, Revision, RevisionStatus, Rollout, RolloutKind
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import ReplicaInfo

STARTED_AT = 1_763_700_000.0


def replica_info(
    replica_id: str = "r1-1",
    state: ReplicaState = ReplicaState.READY,
    *,
    pid: int | None = 4_000_001,
    port: int = 40_001,
    restarts: int = 0,
    boot_failures: int = 0,
    last_error: str = "",
    log_path: Path = Path("/nonexistent/r.log"),
    version: str | None = None,
) -> ReplicaInfo:
    """A supervisor view of one replica; the revision is read from the id ("r2-1" -> 2)."""
    revision = int(replica_id[1:].split("-")[0])
    return ReplicaInfo(
        id=replica_id,
        revision=revision,
        version=version or f"v{revision}",
        state=state,
        pid=pid,
        port=port,
        restarts=restarts,
        boot_failures=boot_failures,
        ready_since=10.0 if state is ReplicaState.READY else None,
        started_at=5.0 if pid else None,
        last_error=last_error,
        log_path=log_path,
    )


def revision(rev_id: int, status: RevisionStatus, version: str = "") -> Revision:
    return Revision(
        id=rev_id,
        version=version or f"v{rev_id}",
        path=f"/srv/app/v{rev_id}",
        command="python -m app",
        env={"K": "V"},
        spec={},
        replicas=2,
        status=status,
        created_at=1000.0 + rev_id,
        source_revision=None,
    )


def rollout(
    rollout_id: int, frm: int | None, to: int, phase: Phase = Phase.SUCCEEDED, reason: str = ""
) -> Rollout:
    return Rollout(
        id=rollout_id,
        from_revision=frm,
        to_revision=to,
        kind=RolloutKind.DEPLOY if frm else RolloutKind.INITIAL,
        strategy=StrategyName.ROLLING,
        phase=phase,
        reason=reason,
        started_at=2000.0 + rollout_id,
        finished_at=None if phase.active else 2010.0 + rollout_id,
    )


@dataclass
class MemoryStore:
    """The reading side of `Store` plus `add_event`, in memory and thread-agnostic."""

    revision_list: list[Revision] = field(default_factory=list)  # any order
    rollout_list: list[Rollout] = field(default_factory=list)
    event_list: list[Event] = field(default_factory=list)

    def revisions(self) -> list[Revision]:
        return sorted(self.revision_list, key=lambda r: -r.id)

    def revision(self, rev_id: int) -> Revision:
        for r in self.revision_list:
            if r.id == rev_id:
                return r
        raise NotFound(f"no revision #{rev_id}")

    def runs(self, rollout_id: int) -> list[Any]:
        return []

    def schema_record(self, revision: int) -> Any:
        return None  # no migration step ran

    def measurements(self, rollout_id: int, limit: int = 200) -> list[Any]:
        return []

    def stable_revision(self) -> Revision | None:
        found = [r for r in self.revision_list if r.status is RevisionStatus.STABLE]
        return found[0] if found else None

    def rollouts(self, limit: int = 50) -> list[Rollout]:
        return sorted(self.rollout_list, key=lambda r: -r.id)[:limit]

    def rollout(self, rollout_id: int) -> Rollout:
        for r in self.rollout_list:
            if r.id == rollout_id:
                return r
        raise NotFound(f"no rollout #{rollout_id}")

    def add_event(
        self,
        kind: str,
        message: str,
        *,
        now: float,
        rollout_id: int | None = None,
        revision: int | None = None,
    ) -> Event:
        event = Event(len(self.event_list) + 1, now, rollout_id, revision, kind, message)
        self.event_list.append(event)
        return event

    def events(self, after_id: int = 0, limit: int = 100) -> list[Event]:
        return [e for e in self.event_list if e.id > after_id][:limit]

    def last_event_id(self) -> int:
        return self.event_list[-1].id if self.event_list else 0


@dataclass
class FakeProxy:
    metrics_doc: dict[str, Any] = field(default_factory=dict)
    address: tuple[str, int] = ("127.0.0.1", 8080)
    preview_address: tuple[str, int] | None = None
    engine_name: str = "builtin"
    certificate: Any = None  # a tlsfiles.Pair under `[proxy] tls`

    def metrics(self) -> dict[str, Any]:
        return self.metrics_doc


@dataclass
class FakeSupervisor:
    infos: list[ReplicaInfo] = field(default_factory=list)

    def replicas(self) -> list[ReplicaInfo]:
        return list(self.infos)


def _refuse(request: Any) -> Rollout:
    raise AssertionError(f"unexpected request {request!r}")


class FakeAgent:
    """What `create_app` and `status_document` use of an `Agent`, and nothing more.

    `on_deploy` / `on_undo` decide what a request does (return a rollout or raise);
    `requests` records every parsed request body in order.
    """

    def __init__(self, store: Any, root: Path, *, name: str = "hello") -> None:
        self.store = store
        self.paths = StatePaths(root)
        self.spec = SimpleNamespace(app=SimpleNamespace(name=name))
        self.proxy = FakeProxy()
        self.supervisor = FakeSupervisor()
        self.controller = SimpleNamespace(active=None, linger={})
        self.traffic = SimpleNamespace(current=Traffic())
        self.live = SimpleNamespace(view=lambda revisions: {})
        self.clock = lambda: 100.0
        self.events = EventLog(store, wall=lambda: STARTED_AT + 1)
        self.stopping = asyncio.Event()
        self.started_at = STARTED_AT
        self.flags_listen: str | None = None
        self.ops_listen: str | None = None
        self.environment: str | None = None
        self.pending_reload: list[str] = []
        self.requests: list[DeployRequest | UndoRequest] = []
        self.on_deploy: Callable[[DeployRequest], Rollout] = _refuse
        self.on_undo: Callable[[UndoRequest], Rollout] = _refuse
        self.commands: list[tuple[Command, str]] = []

    def revision_spec(self, revision: int) -> Any:
        return SimpleNamespace(strategy=SimpleNamespace(steps=[]))

    async def deploy(self, request: DeployRequest, peer: Any = None) -> Rollout:
        self.requests.append(request)
        return self.on_deploy(request)

    async def undo(self, request: UndoRequest) -> Rollout:
        self.requests.append(request)
        return self.on_undo(request)

    def command(self, command: Command, by: str) -> str:
        self.commands.append((command, by))
        return f"{command.value} by {by}"
