"""The agent's operations: deploy, promote, undo, retry, commands, start, shutdown; wiring.

Invariant: every rollout starts from the store's stable revision and is recorded before
its first replica starts, so a crash at any point leaves a state `up` can restore.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from changeover.agent import promoting, schema, strategies
from changeover.agent.analyses import Analyses
from changeover.agent.artifacts import Artifacts
from changeover.agent.controller import Busy, Controller, NoRollout
from changeover.agent.dashboard.series import Trend
from changeover.agent.engine import Engine
from changeover.agent.events import EventLog
from changeover.agent.evidence import SoakCounts, SoakEvidence, SoakWitness
from changeover.agent.flags import FlagService
from changeover.agent.gatekeeper import Gatekeeper
from changeover.agent.logclock import LogClock
from changeover.agent.migrator import Migrator, Outcome
from changeover.agent.notify import Notifier
from changeover.agent.ops.tally import Tally
from changeover.agent.paths import StatePaths
from changeover.agent.peer import Peer
from changeover.agent.promoting import UNKNOWN_PEER, Promoted
from changeover.agent.promotions import PromotionRequest
from changeover.agent.releases import (
    BadRequest,
    DeployRequest,
    UndoRequest,
    release_fields,
    revision_spec,
    template_for,
)
from changeover.agent.secret_env import DigestKey, SecretReader
from changeover.agent.traffic import LiveTraffic, TrafficApplier
from changeover.analysis.model import Measurement
from changeover.analysis.runner import Runner
from changeover.migrations.decide import Scene, expands
from changeover.migrations.state import Step
from changeover.rollout.decision import AnalysisRequest, Command, Decision
from changeover.rollout.phase import Phase
from changeover.rollout.strategy import Strategy
from changeover.spec.environments import EnvironmentSettings
from changeover.spec.load import SpecError, load_spec_text
from changeover.spec.models import AnalysisTemplate, Notify, Spec
from changeover.spec.rules import engine_lacks
from changeover.spec.startonly import pending_message, pending_reload
from changeover.spec.strategy import StrategyName
from changeover.spec.types import parse_address
from changeover.store import Revision, RevisionStatus, Rollout, Store
from changeover.store.promotions import Promotion
from changeover.supervisor.spawn import SpawnError
from changeover.supervisor.supervisor import ReplicaInfo, ReplicaTemplate, Supervisor

RETRYABLE = (Phase.ABORTED, Phase.FAILED)


class Agent:
    def __init__(
        self,
        *,
        paths: StatePaths,
        spec: Spec,
        spec_path: Path,
        store: Store,
        proxy: Engine,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        environment: str | None = None,
    ) -> None:
        self.paths = paths
        self.environment = environment  # deploys read this environment's merged spec
        self.spec = spec
        self.spec_path = spec_path
        self.store = store
        self.proxy = proxy
        self.clock = clock
        self.wall = wall
        self.started_at = wall()
        self.flags_listen: str | None = None  # the [flags] TCP listener, once it serves
        self.ops_listen: str | None = None  # the [ops] TCP listener, once it serves
        self.tally = Tally()  # what the metrics count that nothing else keeps
        self.events = EventLog(store, wall)
        self.events.tap = lambda event: self.tally.counted({event.kind: 1})
        self.stopping = asyncio.Event()
        self.flags = FlagService(store, self.events, wall=wall, stopping=self.stopping)
        self.artifacts = Artifacts(paths.releases, wall=wall)  # releases promoted here
        self.gatekeeper = Gatekeeper(
            store=store,
            events=self.events,
            settings=self.environment_settings,
            environment=environment or "",
            wall=wall,
        )
        self.soak_counts = SoakCounts(self.started_at)  # what the soak evidence counts
        self.soak = SoakWitness(
            store=store,
            metrics=proxy.metrics,
            wall=wall,
            started_at=self.started_at,
            environment=environment,
            counts=self.soak_counts,
        )
        self._promoting = asyncio.Lock()  # one promotion decided (and started) at a time
        self.failure = ""  # set when the agent must stop because a part of it broke
        # hands over to a new agent (set by `main`): timeout -> outcome; Busy if refused
        self.reloader: Callable[[float], Awaitable[Any]] | None = None
        self._templates: dict[int, ReplicaTemplate] = {}
        self.digest_key = DigestKey(paths.digest_key)  # made on the first secret only
        self._specs: dict[int, Spec] = {}
        # the start-only keys (spec.startonly) the latest deploy, promotion or undo changed:
        # this agent keeps its own until a new agent reads the spec file (reload, restart),
        # which starts empty
        self.pending_reload: list[str] = []
        self.traffic = TrafficApplier(proxy)
        self.live = LiveTraffic(proxy.metrics, clock)
        self.trend = Trend()  # the dashboard's charts: fed the live view's own samples
        self.log_clock = LogClock()  # when replicas wrote their log lines (logs --timestamps)
        self.analyses = Analyses(
            store=store,
            events=self.events,
            factory=self._runner,
            wall=wall,
            on_change=self._on_change,
            on_measurement=self._measured,
        )
        self.notifier = Notifier(
            service=spec.app.name,
            events=self.events,
            settings=self._notify_settings,
            wall=wall,
            version=lambda rev: self.store.revision(rev).version,
        )
        self._preview: str | None = None  # address the preview listener is bound to
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
            traffic=self.traffic,
            analyses=self.analyses,
            analysis_templates=lambda rev: self.revision_spec(rev).analysis,
            notifier=self._rollout_ended,
            tally=self.tally,
        )
        self.migrator = Migrator(
            store=store,
            events=self.events,
            settings=lambda rev: self.revision_spec(rev).migrations,
            env=self._migration_env,
            scene=self.schema_scene,
            log_path=paths.migrations_log,
            on_failed=self._expand_failed,
            clock=clock,
            wall=wall,
        )

    # --- wiring -----------------------------------------------------------------------
    def _on_change(self) -> None:
        self.controller.notify()

    def _on_started(self, info: ReplicaInfo) -> None:
        # noted at the spawn, so everything this run writes gets a time (logs -t, --since)
        self.log_clock.note(_log_sizes([info]), self.wall())
        if info.pid is not None:
            self.store.record_replica(
                info.id,
                revision=info.revision,
                pid=info.pid,
                pgid=info.pid,
                create_time=info.create_time or 0.0,
                now=self.wall(),
                port=info.port,  # where an agent restarting after a crash finds it
            )

    def _on_exited(self, info: ReplicaInfo) -> None:
        self.store.forget_replica(info.id)

    def template(self, revision_id: int) -> ReplicaTemplate:
        if revision_id not in self._templates:
            rev = self.store.revision(revision_id)
            template = template_for(
                rev.id,
                rev.version,
                rev.path,
                rev.command,
                rev.env,
                self.revision_spec(rev.id),
                self._secret_reader(rev),
            )
            # how `changeover.flags.Client.from_env()` in the app finds this agent
            flags = {
                "CHANGEOVER_FLAGS_SOCKET": str(self.paths.control_socket),
                "CHANGEOVER_FLAGS_URL": "http://agent/v1/flags",
            }
            self._templates[revision_id] = dataclasses.replace(
                template, env={**template.env, **flags}
            )
        return self._templates[revision_id]

    def _secret_reader(self, rev: Revision) -> SecretReader | None:
        if not rev.secret_sources:
            return None

        def changed(who: str, name: str, deployed: str, now: str) -> None:
            # the deployed value is nowhere to be had (never stored): starting with the
            # current one beats refusing, which would turn a rotation into an outage
            self.events.add(
                "secret",
                f"{who}: secret {name} differs from the value revision {rev.id} was "
                f"deployed with ({deployed} -> {now}); starting with the current value "
                "(deploy again to record it)",
                revision=rev.id,
            )

        digests = {name: rev.env.get(name, "") for name in rev.secret_sources}
        return SecretReader(rev.id, rev.secret_sources, digests, self.digest_key, changed)

    def _release_env(self, rev: Revision) -> dict[str, str]:
        """The revision's environment with its secrets' values (those that can be read)."""
        env = {k: v for k, v in rev.env.items() if k not in rev.secret_sources}
        read = self.template(rev.id).secrets
        if read is not None:
            with contextlib.suppress(SpawnError):  # then the command runs without them
                env |= read("analysis")
        return env

    def _rollout_ended(self, kind: str, rollout: Rollout, reason: str) -> None:
        """The controller's word on a rollout (the hooks are told). One that ended with
        the stable revision restored (rolled back, aborted) leaves that revision's spec
        running: the keys pending are its, as after an undo, not the failed deploy's."""
        self.notifier(kind, rollout, reason)
        back = rollout.from_revision
        if kind in ("rolled-back", Phase.ABORTED.value) and back is not None:
            self._note_pending(self.revision_spec(back), rollout, f"not revision {back}'s spec")

    def _expand_failed(self, rollout: Rollout, reason: str) -> None:
        # as the controller ends a failed rollout: counted, and the hooks told
        self.tally.outcome(Phase.FAILED.value)
        self.notifier(Phase.FAILED.value, rollout, reason)

    def _migration_env(self, rev: Revision) -> tuple[dict[str, str], list[str]]:
        """A migration command's variables (the release's, its secrets' values included)
        and the secrets' values, which its output kept and logged never shows."""
        env = self._release_env(rev)
        return env, [env[name] for name in rev.secret_sources if env.get(name)]

    def schema_scene(self, revision: int | None = None) -> Scene:
        return schema.scene(self, revision)

    def revision_spec(self, revision_id: int) -> Spec:
        if revision_id not in self._specs:
            rev = self.store.revision(revision_id)
            self._specs[revision_id] = revision_spec(rev.id, rev.spec)
        return self._specs[revision_id]

    def _notify_settings(self, rollout: Rollout) -> Notify:
        return self.revision_spec(rollout.to_revision).notify

    def _measured(self, request: AnalysisRequest, m: Measurement) -> None:
        self.tally.measured(request.key, request.template, m.metric, m.outcome.value, m.value)

    def sample(self) -> dict[str, Any]:
        """What analysis windows are cut from: the proxy's counters and replica restarts."""
        return {**self.proxy.metrics(), "restarts": self.tally.restarts.snapshot()}

    def _runner(
        self,
        request: AnalysisRequest,
        template: AnalysisTemplate,
        record: Callable[[Measurement], None],
    ) -> Runner:
        rev = self.store.revision(request.canary)
        if request.span is not None:  # the guard: as many rounds as fit in its window
            rounds = (request.span - template.initial_delay) // template.interval
            template = template.model_copy(update={"count": max(1, int(rounds))})
        env = {
            **self._release_env(rev),
            "CHANGEOVER_CANARY_REVISION": str(request.canary),
            "CHANGEOVER_STABLE_REVISION": str(request.baseline or ""),
            "CHANGEOVER_PUBLIC_URL": "{}://{}:{}".format(self._scheme, *self.proxy.address),
        }
        return Runner(
            request.template,
            template,
            canary=request.canary,
            baseline=request.baseline,
            sample=self.sample,
            clock=self.clock,
            wall=self.wall,
            workdir=rev.path,
            env=env,
            on_measurement=record,
            background=request.key == "background",
            baseline_history=request.baseline_history,
        )

    async def sample_traffic(self, every: float = 1.0) -> None:
        """Feed the live per-revision view of `status` and the log clock (runs until
        cancelled)."""
        while True:
            self.trend.add(self.wall(), self.live.tick())
            self.note_logs()
            self.note_soak()
            await asyncio.sleep(every)

    def note_soak(self) -> None:
        self.soak.note()

    def environment_settings(self) -> EnvironmentSettings:
        """This environment's settings in the agent's own spec (never an artifact's)."""
        return self.spec.environments.get(self.environment or "") or EnvironmentSettings()

    def evidence(self, version: str, sha256: str) -> SoakEvidence:
        """What this agent says of release `version` (`sha256`): `SoakWitness.evidence`."""
        return self.soak.evidence(version, sha256)

    def note_logs(self) -> None:
        replicas = self.supervisor.replicas()
        self.log_clock.note(_log_sizes(replicas), self.wall())
        self.log_clock.forget(r.id for r in replicas)

    # --- operations -------------------------------------------------------------------
    def start_initial(self, version: str) -> asyncio.Future[Decision]:
        """Restore the stable revision of an earlier run, or create revision 1."""
        stable = self.store.stable_revision()
        if stable is not None:
            self.events.add("agent", f"restoring stable revision {stable.id} ({stable.version})")
            return self._begin(stable, kind="restore", from_revision=None)
        request = DeployRequest(version=version, spec_text="", spec_path=str(self.spec_path))
        fields = release_fields(self.spec, request, self.digest_key)
        target = self.store.create_revision(**fields, now=self.wall())
        return self._begin(target, kind="initial", from_revision=None)

    async def deploy(self, request: DeployRequest, peer: Peer | None = None) -> Rollout:
        self._ensure_idle()
        forced = self.gatekeeper.check_deploy(request.version, request.force, peer)
        try:
            spec = load_spec_text(
                request.spec_text,
                request.spec_path,
                base=Path(request.spec_path).parent,
                environment=self.environment,
            )
        except SpecError as exc:
            raise BadRequest(*exc.lines()) from None
        fields, name = await self._release(spec, request)
        rollout = self._start_deploy(fields, name)
        if forced:
            self.events.add("gate", forced, rollout_id=rollout.id)
        self._note_pending(spec, rollout, f"not {request.spec_path}", Path(request.spec_path))
        return rollout

    def _note_pending(
        self, deployed: Spec, rollout: Rollout, source: str, path: Path | None = None
    ) -> None:
        """Say which start-only keys the spec that runs now (`deployed`) changed against
        the agent's: the rollout applies the revision's part, never these (names only: a
        value may be sensitive). `source` says where that spec came from, for the note
        when it is not the file a reload reads (`path`, if it is a file at all)."""
        self.pending_reload = pending_reload(self.spec, deployed, self.environment)
        if self.pending_reload:
            message = pending_message(self.pending_reload)
            if path is None or path.resolve() != self.spec_path.resolve():
                message += f" (changeover reload reads {self.spec_path}, {source})"
            self.events.add("agent", message, rollout_id=rollout.id)

    async def promote(self, request: PromotionRequest, peer: Peer | None) -> Promoted:
        """Promote a release artifact this agent holds (`promoting.promote`)."""
        return await promoting.promote(self, request, peer)

    async def rollback_release(self, peer: Peer | None) -> tuple[Rollout, Promotion]:
        """Promote again the release this environment ran before its current one."""
        return await promoting.rollback_release(self, peer)

    async def undo(self, request: UndoRequest) -> Rollout:
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
        _check_runnable(target)
        schema.check_move(self, target.id, request.force, f"undo to revision {target.id}")
        # blue-green switches back at once (the old revision may still be warm)
        bluegreen = self.revision_spec(stable.id).strategy.type is StrategyName.BLUE_GREEN
        name = StrategyName.BLUE_GREEN if bluegreen else StrategyName.ROLLING
        self._begin(target, kind="undo", from_revision=stable.id, strategy=name, instant=True)
        rollout = self._current_rollout()
        # the restored revision's spec is what runs now: the keys pending are its, not
        # those of the deploy undone (as for a promotion)
        self._note_pending(
            self.revision_spec(target.id), rollout, f"not revision {target.id}'s spec"
        )
        return rollout

    async def retry(self) -> Rollout:
        """Roll out again the revision of the last rollout, if it was aborted or failed."""
        self._ensure_idle()
        stable = self._stable()
        last = next(iter(self.store.rollouts(limit=1)), None)
        if last is None or last.phase not in RETRYABLE or last.kind.value != "deploy":
            what = (
                "none"
                if last is None
                else f"rollout {last.id} is {last.phase.value} ({last.kind.value})"
            )
            raise BadRequest(
                f"nothing to retry: the last rollout must be an aborted or failed deploy ({what})"
            )
        if last.from_revision != stable.id:
            raise BadRequest(
                f"rollout {last.id} started from revision {last.from_revision}, but the "
                f"stable revision is now {stable.id}; deploy again instead"
            )
        target = self.store.revision(last.to_revision)
        await self._ensure_preview(last.strategy, self.revision_spec(target.id))
        self._begin(target, kind="deploy", from_revision=stable.id, strategy=last.strategy)
        self.events.add(
            "rollout", f"retry of rollout {last.id}", rollout_id=self._current_rollout().id
        )
        return self._current_rollout()

    async def migrate(self, step: Step, revision: int | None) -> Outcome:
        """`changeover migrate expand|contract|rollback`: one step now, if the rules let
        it (BadRequest saying why not, nothing run)."""
        return await self.migrator.run(step, schema.allowed(self, step, revision))

    def command(self, command: Command, by: str = "operator") -> str:
        expanding = self.migrator.expanding
        if expanding is not None:  # a migration is never killed half-way by a command
            raise BadRequest(
                f"rollout {expanding.id} is running its expand: no replica of revision "
                f"{expanding.to_revision} started yet, nothing to {command.value}; the "
                "expand ends by itself within [migrations] timeout"
            )
        try:
            return self.controller.command(command, by)
        except NoRollout as exc:
            raise BadRequest(str(exc)) from None

    async def shutdown(self) -> None:
        await self.migrator.close()  # an expand in progress: its rollout is interrupted
        self.controller.cancel("agent stopped")
        await self.analyses.close()
        await self.proxy.shutdown(timeout=self._drain_timeout())
        await self.supervisor.stop_all()
        await self.notifier.close()

    # --- helpers ----------------------------------------------------------------------
    async def _release(
        self, spec: Spec, request: DeployRequest, env_base: Path | None = None
    ) -> tuple[dict[str, Any], StrategyName]:
        """What a new revision holds, and its strategy: every refusal happens here,
        before anything is written."""
        name = request.strategy or spec.strategy.type
        self._stable()
        lacking = engine_lacks(spec, self.proxy.engine_name)
        if lacking:  # `[proxy]` is the agent's: its engine, not the deployed spec's, serves
            raise BadRequest(*(f"{p.path}: {p.message}" for p in lacking))
        fields = release_fields(spec, request, self.digest_key, env_base=env_base)
        await self._ensure_preview(name, spec)
        return fields, name

    def _start_deploy(self, fields: dict[str, Any], name: StrategyName) -> Rollout:
        self._ensure_idle()  # again: preparing may have awaited
        stable = self._stable()
        target = self.store.create_revision(**fields, now=self.wall())
        self._begin(target, kind="deploy", from_revision=stable.id, strategy=name)
        return self._current_rollout()

    def _begin(
        self,
        target: Revision,
        *,
        kind: str,
        from_revision: int | None,
        strategy: StrategyName = StrategyName.ROLLING,
        instant: bool = False,
    ) -> asyncio.Future[Decision]:
        spec = self.revision_spec(target.id)
        stable_replicas = None
        if from_revision is not None:
            stable_replicas = self.store.revision(from_revision).replicas

        def build() -> Strategy:  # its clock starts when its replicas may start
            return strategies.build(
                strategy,
                stable=from_revision,
                target=target.id,
                spec=spec,
                stable_replicas=stable_replicas,
                now=self.clock(),
                instant=instant,
            )

        machine = build()
        rollout = self.store.start_rollout(
            from_revision=from_revision,
            to_revision=target.id,
            kind=kind,
            strategy=strategy if from_revision is not None else StrategyName.ROLLING,
            now=self.wall(),
        )
        self.events.add(
            "rollout", _started_message(rollout, target), rollout_id=rollout.id, revision=target.id
        )
        revisions = (from_revision, target.id)
        if expands(kind, spec.migrations.expand is not None):
            # the schema first: replicas start only once the expand succeeded; the hooks
            # hear "started" now, so that a failed expand is a "failed" after a "started"
            self.notifier("started", rollout, "")
            return self.migrator.expand_first(
                rollout, lambda: self.controller.begin(rollout, build(), revisions, True)
            )
        return self.controller.begin(rollout, machine, revisions)

    async def _ensure_preview(self, strategy: StrategyName, spec: Spec) -> None:
        """Bind the blue-green preview listener the spec asks for (once per address)."""
        listen = spec.strategy.preview_listen
        if strategy is not StrategyName.BLUE_GREEN or listen is None or listen == self._preview:
            return
        host, port = parse_address(listen)
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.create_server((host, port), family=family, backlog=1024)
        except OSError as exc:
            raise BadRequest(
                f"strategy.preview_listen: cannot listen on {listen}: {exc.strerror or exc}"
            ) from None
        if self._preview is not None:
            await self.proxy.close_preview()
        await self.proxy.serve_preview(sock)
        self._preview = listen
        port = sock.getsockname()[1]
        self.events.add("agent", f"preview listener on {self._scheme}://{host}:{port}")

    @property
    def _scheme(self) -> str:
        """Both listeners speak HTTPS under `[proxy] tls`, plain HTTP otherwise."""
        return "http" if self.proxy.certificate is None else "https"

    def _ensure_idle(self) -> None:
        active = self.controller.active
        r = active.rollout if active is not None else self.migrator.expanding
        if r is not None:
            raise Busy(
                f"rollout {r.id} (revision {r.from_revision} -> {r.to_revision}) "
                "is still in progress; wait for it to finish"
            )
        if self.migrator.busy is not None:
            raise Busy(f"a migration is running ({self.migrator.busy}); wait for it to finish")

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
        if active is None:  # its expand runs first
            assert self.migrator.expanding is not None
            return self.migrator.expanding
        return active.rollout

    def _drain_timeout(self) -> float:
        stable = self.store.stable_revision()
        if stable is None:
            return self.spec.termination.drain_timeout
        return revision_spec(stable.id, stable.spec).termination.drain_timeout


def _check_runnable(target: Revision) -> None:
    """BadRequest if `target`'s folder is gone (removed by `[releases] keep`, or by hand):
    its replicas could not start, so the undo is refused before anything moves."""
    if not os.path.isdir(target.path):  # one stat: no thread needed
        raise BadRequest(
            f"revision {target.id} ({target.version}) cannot run again: its folder "
            f"{target.path} is gone ([releases] keep removes old release folders); "
            "promote its release again, or deploy"
        )


def _started_message(rollout: Rollout, target: Revision) -> str:
    origin = f"revision {rollout.from_revision}" if rollout.from_revision else "nothing"
    return (
        f"rollout {rollout.id} ({rollout.kind}, {rollout.strategy}) started: "
        f"{origin} -> revision {target.id} ({target.version})"
    )


__all__ = ["UNKNOWN_PEER", "Agent", "BadRequest", "Busy", "Promoted", "RevisionStatus"]


def _log_sizes(replicas: list[ReplicaInfo]) -> list[tuple[str, int]]:
    sizes = []
    for info in replicas:
        try:
            sizes.append((info.id, info.log_path.stat().st_size))
        except OSError:
            continue  # not written yet, or removed by retention
    return sizes
