"""The agent's operations: deploy, undo, initial start, shutdown; wiring of its parts.

Invariant: every rollout starts from the store's stable revision and is recorded before
its first replica starts, so a crash at any point leaves a state `up` can restore.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from changeover.agent.controller import Busy, Controller
from changeover.agent.events import EventLog
from changeover.agent.paths import StatePaths
from changeover.agent.releases import (
    BadRequest,
    DeployRequest,
    UndoRequest,
    check_strategy,
    release_fields,
    revision_spec,
    rolling_params,
    template_for,
)
from changeover.proxy.server import Proxy
from changeover.rollout.rolling import Decision, RollingUpdate
from changeover.spec.load import SpecError, load_spec_text
from changeover.spec.models import Spec
from changeover.store import Revision, RevisionStatus, Rollout, Store
from changeover.supervisor.supervisor import ReplicaInfo, ReplicaTemplate, Supervisor


class Agent:
    def __init__(
        self,
        *,
        paths: StatePaths,
        spec: Spec,
        spec_path: Path,
        store: Store,
        proxy: Proxy,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.paths = paths
        self.spec = spec
        self.spec_path = spec_path
        self.store = store
        self.proxy = proxy
        self.clock = clock
        self.wall = wall
        self.started_at = wall()
        self.events = EventLog(store, wall)
        self.stopping = asyncio.Event()
        self.failure = ""  # set when the agent must stop because a part of it broke
        self._templates: dict[int, ReplicaTemplate] = {}
        self.supervisor = Supervisor(
            routing=proxy,
            logs_dir=paths.logs,
            clock=clock,
            on_change=self._on_change,
            on_started=self._on_started,
            on_exited=self._on_exited,
        )
        self.controller = Controller(
            store=store,
            supervisor=self.supervisor,
            events=self.events,
            templates=self.template,
            clock=clock,
            wall=wall,
        )

    # --- wiring -----------------------------------------------------------------------
    def _on_change(self) -> None:
        self.controller.notify()

    def _on_started(self, info: ReplicaInfo) -> None:
        if info.pid is not None:
            self.store.record_replica(
                info.id,
                revision=info.revision,
                pid=info.pid,
                pgid=info.pid,
                create_time=info.create_time or 0.0,
                now=self.wall(),
            )

    def _on_exited(self, info: ReplicaInfo) -> None:
        self.store.forget_replica(info.id)

    def template(self, revision_id: int) -> ReplicaTemplate:
        if revision_id not in self._templates:
            rev = self.store.revision(revision_id)
            spec = revision_spec(rev.id, rev.spec)
            self._templates[revision_id] = template_for(
                rev.id, rev.version, rev.path, rev.command, rev.env, spec
            )
        return self._templates[revision_id]

    # --- operations -------------------------------------------------------------------
    def start_initial(self, version: str) -> asyncio.Future[Decision]:
        """Restore the stable revision of an earlier run, or create revision 1."""
        stable = self.store.stable_revision()
        if stable is not None:
            self.events.add("agent", f"restoring stable revision {stable.id} ({stable.version})")
            return self._begin(stable, kind="restore", from_revision=None)
        request = DeployRequest(version=version, spec_text="", spec_path=str(self.spec_path))
        target = self.store.create_revision(**release_fields(self.spec, request), now=self.wall())
        return self._begin(target, kind="initial", from_revision=None)

    def deploy(self, request: DeployRequest) -> Rollout:
        self._ensure_idle()
        try:
            spec = load_spec_text(
                request.spec_text, request.spec_path, base=Path(request.spec_path).parent
            )
        except SpecError as exc:
            raise BadRequest(*exc.lines()) from None
        check_strategy(request.strategy or spec.strategy.type)
        stable = self._stable()
        fields = release_fields(spec, request)
        target = self.store.create_revision(**fields, now=self.wall())
        self._begin(target, kind="deploy", from_revision=stable.id)
        return self._current_rollout()

    def undo(self, request: UndoRequest) -> Rollout:
        self._ensure_idle()
        stable = self._stable()
        if request.to_revision is None:
            target = self.store.previous_stable(stable.id)
            if target is None:
                raise BadRequest(f"no earlier stable revision to return to (stable: {stable.id})")
        else:
            target = self._revision(request.to_revision)
        if target.id == stable.id:
            raise BadRequest(f"revision {target.id} is already the stable revision")
        self._begin(target, kind="undo", from_revision=stable.id)
        return self._current_rollout()

    async def shutdown(self) -> None:
        self.controller.cancel("agent stopped")
        await self.proxy.shutdown(timeout=self._drain_timeout())
        await self.supervisor.stop_all()

    # --- helpers ----------------------------------------------------------------------
    def _begin(
        self, target: Revision, *, kind: str, from_revision: int | None
    ) -> asyncio.Future[Decision]:
        spec = revision_spec(target.id, target.spec)
        stable_replicas = None
        if from_revision is not None:
            stable_replicas = self.store.revision(from_revision).replicas
        params = rolling_params(spec, stable_replicas)
        rollout = self.store.start_rollout(
            from_revision=from_revision,
            to_revision=target.id,
            kind=kind,
            strategy="rolling",
            now=self.wall(),
        )
        self.events.add(
            "rollout", _started_message(rollout, target), rollout_id=rollout.id, revision=target.id
        )
        strategy = RollingUpdate(from_revision, target.id, params, started_at=self.clock())
        return self.controller.begin(rollout, strategy, (from_revision, target.id))

    def _ensure_idle(self) -> None:
        active = self.controller.active
        if active is not None:
            r = active.rollout
            raise Busy(
                f"rollout {r.id} (revision {r.from_revision} -> {r.to_revision}) "
                "is still in progress; wait for it to finish"
            )

    def _stable(self) -> Revision:
        stable = self.store.stable_revision()
        if stable is None:
            raise BadRequest("no stable revision yet; wait for `up` to finish")
        return stable

    def _revision(self, revision_id: int) -> Revision:
        try:
            return self.store.revision(revision_id)
        except KeyError:
            known = ", ".join(str(r.id) for r in self.store.revisions()) or "none"
            raise BadRequest(f"revision {revision_id} does not exist (known: {known})") from None

    def _current_rollout(self) -> Rollout:
        active = self.controller.active
        assert active is not None
        return active.rollout

    def _drain_timeout(self) -> float:
        stable = self.store.stable_revision()
        if stable is None:
            return self.spec.termination.drain_timeout
        return revision_spec(stable.id, stable.spec).termination.drain_timeout


def _started_message(rollout: Rollout, target: Revision) -> str:
    origin = f"revision {rollout.from_revision}" if rollout.from_revision else "nothing"
    return (
        f"rollout {rollout.id} ({rollout.kind}, {rollout.strategy}) started: "
        f"{origin} -> revision {target.id} ({target.version})"
    )


__all__ = ["Agent", "BadRequest", "Busy", "RevisionStatus"]
