"""The rollout controller on a real store, a supervisor of fake processes and RollingUpdate.

Replicas have no probes, so each one is READY as soon as its fake process is spawned;
every wait below is for a condition (a future, a state), bounded by a guard timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from changeover.agent.controller import Busy, Controller, observe
from changeover.agent.events import EventLog
from changeover.agent.status import active_rollout_doc
from changeover.rollout.decision import Command, CommandRefused, Decision
from changeover.rollout.events import OperatorEvent
from changeover.rollout.observe import ReplicaObs, RevisionObs
from changeover.rollout.phase import Phase
from changeover.rollout.rolling import RollingParams, RollingUpdate
from changeover.spec.models import Probes, Termination
from changeover.store import Revision, RevisionStatus, Rollout, RolloutKind, Store
from changeover.supervisor.backoff import Backoff
from changeover.supervisor.fakes import FakeChild, FakeSpawner, RecordingRouting
from changeover.supervisor.model import ReplicaTemplate
from changeover.supervisor.spawn import SpawnError, SpawnSpec
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import Supervisor
from tests.helpers import FakeClock, bounded, until

from ._fakes import replica_info

S = ReplicaState
T = TypeVar("T")
WALL = 5000.0


def run(coro: Coroutine[Any, Any, T]) -> T:
    return bounded(coro, 10)


class Harness:
    """Controller + Supervisor(FakeSpawner, RecordingRouting) + EventLog over one store."""

    def __init__(
        self,
        tmp_path: Path,
        store: Store,
        *,
        backoff: float = 0.001,
        spawner: FakeSpawner | None = None,
    ) -> None:
        self.store = store
        self.tmp_path = tmp_path
        self.clock = FakeClock(100.0)
        self.spawner = spawner or FakeSpawner()
        self.notified: list[tuple[str, int, str]] = []  # (kind, rollout id, message)
        self.routing = RecordingRouting()
        self.events = EventLog(store, wall=lambda: WALL)
        self.supervisor = Supervisor(
            routing=self.routing,
            logs_dir=tmp_path / "logs",
            spawner=self.spawner,
            clock=self.clock,
            backoff=lambda: Backoff(initial=backoff, cap=backoff),
            on_change=lambda: self.controller.notify(),
        )
        self.controller = Controller(
            store=store,
            supervisor=self.supervisor,
            events=self.events,
            templates=self.template,
            clock=self.clock,
            wall=lambda: WALL,
            notifier=lambda kind, rollout, message: self.notified.append(
                (kind, rollout.id, message)
            ),
        )

    def template(self, revision: int) -> ReplicaTemplate:
        return ReplicaTemplate(
            revision=revision,
            version=self.store.revision(revision).version,
            command="app --serve",
            workdir=self.tmp_path,
            env={},
            probes=Probes(),
            termination=Termination(drain_timeout="1s", grace_period="1s"),
        )

    def start(self, frm: int | None, to: int, kind: str, *, surge: int = 1) -> tuple[Rollout, Any]:
        rollout = self.store.start_rollout(
            from_revision=frm, to_revision=to, kind=kind, strategy="rolling", now=1.0
        )
        replicas = self.store.revision(to).replicas
        stable = None if frm is None else self.store.revision(frm).replicas
        params = RollingParams(replicas, surge, 0, 0.0, 30.0, stable_replicas=stable)
        strategy = RollingUpdate(frm, to, params, started_at=self.clock())
        return rollout, self.controller.begin(rollout, strategy, (frm, to))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.controller.run())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await self.supervisor.stop_all()

    def live(self) -> dict[str, ReplicaState]:
        return {i.id: i.state for i in self.supervisor.replicas() if not i.state.terminating}


def new_revision(store: Store, version: str, replicas: int) -> Revision:
    return store.create_revision(
        version=version, path="/srv", command="app", env={}, spec={}, replicas=replicas, now=1.0
    )


def rollout_messages(store: Store, rollout_id: int) -> list[str]:
    return [e.message for e in store.events() if e.rollout_id == rollout_id]


def test_a_first_deploy_scales_up_and_succeeds(tmp_path: Path, store: Store) -> None:
    rev = new_revision(store, "v1", replicas=3)

    async def main() -> None:
        h = Harness(tmp_path, store)
        rollout, done = h.start(None, rev.id, "initial")
        assert h.controller.active is not None
        assert h.controller.active.revisions == (rev.id,)
        async with h.running():
            decision: Decision = await done
            assert h.live() == {"r1-1": S.READY, "r1-2": S.READY, "r1-3": S.READY}
            assert h.routing.routable == {"r1-1", "r1-2", "r1-3"}
            assert len(h.spawner.children) == 3
        assert decision.phase is Phase.SUCCEEDED
        assert decision.scale == {rev.id: 3}
        assert h.controller.active is None
        stored = store.rollout(rollout.id)
        assert (stored.phase, stored.finished_at, stored.reason) == (Phase.SUCCEEDED, WALL, "")
        stable = store.stable_revision()
        assert stable is not None
        assert stable.id == rev.id
        assert rollout_messages(store, rollout.id) == [
            "scaled revision 1 up to 3",
            "rollout succeeded: revision 1 is stable",
        ]
        replica_events = [e.message for e in store.events() if e.kind == "replica"]
        assert {"r1-1 ready", "r1-2 ready", "r1-3 ready"} <= set(replica_events)

    run(main())


def routable_counts(calls: list[tuple[Any, ...]]) -> list[int]:
    """How many replicas were routable after each routing call, replayed in order."""
    routable: set[str] = set()
    counts = []
    for call in calls:
        if call[0] == "set_routable":
            (routable.add if call[2] else routable.discard)(call[1])
        elif call[0] == "remove_endpoint":
            routable.discard(call[1])
        counts.append(len(routable))
    return counts


def test_a_deploy_replaces_the_stable_revision_without_losing_capacity(
    tmp_path: Path, store: Store
) -> None:
    v1, v2 = new_revision(store, "v1", 2), new_revision(store, "v2", 2)

    async def main() -> None:
        h = Harness(tmp_path, store)
        async with h.running():
            _, first = h.start(None, v1.id, "initial")
            assert (await first).phase is Phase.SUCCEEDED
            rollout, second = h.start(v1.id, v2.id, "deploy")
            decision = await second
            assert h.live() == {"r2-1": S.READY, "r2-2": S.READY}
            await h.supervisor.wait_terminated(v1.id)
            states = {i.id: i.state for i in h.supervisor.replicas()}
            assert states == {"r1-1": S.EXITED, "r1-2": S.EXITED, "r2-1": S.READY, "r2-2": S.READY}
            calls = list(h.routing.calls)  # before stop_all takes everything down
        assert decision.phase is Phase.SUCCEEDED
        assert decision.scale == {v1.id: 0, v2.id: 2}
        assert store.rollout(rollout.id).phase is Phase.SUCCEEDED
        assert {r.id: r.status for r in store.revisions()} == {
            1: RevisionStatus.SUPERSEDED,
            2: RevisionStatus.STABLE,
        }
        counts = routable_counts(calls)
        full = counts.index(2)  # revision 1 fully up
        assert min(counts[full:]) >= 2  # max_unavailable = 0 held throughout
        assert max(counts) <= 3  # max_surge = 1
        assert rollout_messages(store, rollout.id)[-1] == "rollout succeeded: revision 2 is stable"

    run(main())


def test_a_failing_deploy_rolls_back_and_records_each_phase(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2 = new_revision(store, "v1", 2), new_revision(store, "v2", 2)
    phases: list[str] = []
    real = store.set_rollout_phase

    def spy(rollout_id: int, phase: Any, **kw: Any) -> None:
        phases.append(Phase(phase).value)
        real(rollout_id, phase, **kw)

    monkeypatch.setattr(store, "set_rollout_phase", spy)

    async def main() -> None:
        h = Harness(tmp_path, store)
        async with h.running():
            _, first = h.start(None, v1.id, "initial")
            await first
            h.spawner.fail_with = "command not found: app"
            rollout, second = h.start(v1.id, v2.id, "deploy")
            decision = await second
            assert h.live() == {"r1-1": S.READY, "r1-2": S.READY}
        assert decision.phase is Phase.FAILED
        assert decision.reason == "replica r2-1 failed at boot 3 times: command not found: app"
        assert phases == ["rolling-back"]
        stored = store.rollout(rollout.id)
        assert (stored.phase, stored.reason) == (Phase.FAILED, decision.reason)
        assert {r.id: r.status for r in store.revisions()} == {
            1: RevisionStatus.STABLE,
            2: RevisionStatus.FAILED,
        }
        messages = rollout_messages(store, rollout.id)
        failed = messages.index(
            "rollout failed: replica r2-1 failed at boot 3 times: command not found: app"
        )
        assert messages[failed + 1] == "rolling back to revision 1"
        assert messages[-1] == "rollback complete: revision 1 restored"

    run(main())


def test_a_failure_at_boot_shows_what_the_replica_wrote(tmp_path: Path, store: Store) -> None:
    v1, v2 = new_revision(store, "v1", 1), new_revision(store, "v2", 1)
    logs = tmp_path / "logs"
    logs.mkdir()
    written = [f"line {i}" for i in range(12)] + ["\x1b[31mRuntimeError: no config\x1b[0m"]
    (logs / "r2-1.log").write_text("\n".join(written) + "\n")  # as an app wrote it

    async def main() -> Rollout:
        h = Harness(tmp_path, store)
        async with h.running():
            await h.start(None, v1.id, "initial")[1]
            h.spawner.fail_with = "exited with code 3"
            rollout, second = h.start(v1.id, v2.id, "deploy")
            await second
        return rollout

    rollout = run(main())
    (output,) = [e for e in store.events() if e.kind == "output"]
    assert (output.rollout_id, output.revision) == (rollout.id, v2.id)
    assert output.message.splitlines() == [
        "r2-1 wrote before failing (last 10 lines; `changeover logs r2-1` shows more):",
        *[f"  line {i}" for i in range(3, 12)],
        "  ?[31mRuntimeError: no config?[0m",  # no escape sequence reaches a terminal
    ]
    messages = rollout_messages(store, rollout.id)
    failed = messages.index(
        "rollout failed: replica r2-1 failed at boot 3 times: exited with code 3"
    )
    assert failed < messages.index(output.message) < len(messages) - 1  # before the rollback ends


def test_a_rollout_failing_with_no_failure_at_boot_shows_no_output(
    tmp_path: Path, store: Store
) -> None:
    v1, v2 = new_revision(store, "v1", 1), new_revision(store, "v2", 1)

    async def main() -> Decision:
        h = Harness(tmp_path, store)
        async with h.running():
            await h.start(None, v1.id, "initial")[1]
            rollout = store.start_rollout(
                from_revision=v1.id, to_revision=v2.id, kind="deploy", strategy="rolling", now=1
            )
            # every replica is ready at once, and available 8 s (of the fake clock) later
            params = RollingParams(1, 1, 0, min_ready=8.0, progress_deadline=5.0)
            strategy = RollingUpdate(v1.id, v2.id, params, started_at=h.clock())
            done = h.controller.begin(rollout, strategy, (v1.id, v2.id))
            await until(lambda: h.live().get("r2-1") is S.READY)
            h.clock.advance(6.0)  # past the deadline, r2-1 not yet available
            await until(lambda: strategy.phase is Phase.ROLLING_BACK)
            h.clock.advance(3.0)  # the stable is available again: the rollback ends
            return await done

    decision = run(main())
    assert decision.reason == "progress deadline exceeded: no progress for 5s"
    assert [e for e in store.events() if e.kind == "output"] == []


class BrokenSpawner(FakeSpawner):
    """Spawns of the named replicas, and of every replica of `broken` revisions, fail."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: set[str] = set()  # "r2-2", or "1" for every replica of revision 1

    def spawn(self, spec: SpawnSpec) -> FakeChild:
        env = spec.env
        if {env.get("CHANGEOVER_REPLICA"), env.get("CHANGEOVER_REVISION")} & self.broken:
            self.specs.append(spec)
            raise SpawnError("config file unreadable")
        return super().spawn(spec)


def retries_of(h: Harness, revision: int) -> int:
    return sum(i.boot_failures for i in h.supervisor.replicas() if i.revision == revision)


def test_a_rollback_that_gives_up_keeps_the_target_serving_and_makes_it_stable(
    tmp_path: Path, store: Store
) -> None:
    v1, v2 = new_revision(store, "v1", 2), new_revision(store, "v2", 2)
    spawner = BrokenSpawner()

    async def main() -> tuple[Decision, list[tuple[str, int, str]]]:
        h = Harness(tmp_path, store, spawner=spawner)
        async with h.running():
            _, first = h.start(None, v1.id, "initial")
            await first
            # the machine changed: revision 1 no longer starts; revision 2's second replica
            # fails at boot, so the rollout fails after the stable was scaled down
            spawner.broken |= {"1", "r2-2"}
            rollout = store.start_rollout(
                from_revision=v1.id, to_revision=v2.id, kind="deploy", strategy="rolling", now=2.0
            )
            params = RollingParams(2, 1, 1, 0.0, 300.0, rollback_deadline=60.0)
            done = h.controller.begin(
                rollout, RollingUpdate(v1.id, v2.id, params, h.clock()), (v1.id, v2.id)
            )
            await until(lambda: store.rollout(rollout.id).phase is Phase.ROLLING_BACK)
            h.clock.advance(60.0)  # the deadline itself: still waiting (it is exclusive)
            h.controller.notify()
            await until(lambda: retries_of(h, v1.id) >= 4)  # revision 1 keeps failing
            assert not done.done()
            h.clock.advance(0.5)
            h.controller.notify()
            decision = await done
            await h.supervisor.wait_terminated(v1.id)
            assert h.live() == {"r2-1": S.READY}
            assert h.routing.routable == {"r2-1"}
        return decision, h.notified

    decision, notified = run(main())
    assert (decision.phase, decision.kept, decision.scale) == (Phase.FAILED, v2.id, {1: 0, 2: 1})
    stored = store.rollout(2)
    assert (stored.phase, stored.reason) == (Phase.FAILED, decision.reason)
    assert stored.reason.startswith(
        "replica r2-2 failed at boot 3 times: config file unreadable; rollback deadline "
        "exceeded: revision 1 did not come back within 60s (0 of 2 ready); revision 2 keeps "
        "serving with 1 ready replica and is now the stable revision"
    )
    assert {r.id: r.status for r in store.revisions()} == {
        1: RevisionStatus.SUPERSEDED,
        2: RevisionStatus.STABLE,
    }
    messages = rollout_messages(store, 2)
    assert messages[messages.index(stored.reason.partition("; ")[2]) + 1] == (
        "scaled revision 1 down to 0"
    )
    # loud: the notification is "failed" (nothing was rolled back), with the whole reason
    assert [n for n in notified if n[1] == 2] == [
        ("started", 2, ""),
        ("failed", 2, stored.reason),
    ]


def test_a_second_rollout_while_one_is_active_is_busy(tmp_path: Path, store: Store) -> None:
    v1, v2 = new_revision(store, "v1", 1), new_revision(store, "v2", 1)

    async def main() -> None:
        h = Harness(tmp_path, store)
        rollout, done = h.start(None, v1.id, "initial")
        other = Rollout(
            id=99,
            from_revision=v1.id,
            to_revision=v2.id,
            kind=RolloutKind.DEPLOY,
            strategy="rolling",
            phase=Phase.PROGRESSING,
            reason="",
            started_at=1.0,
            finished_at=None,
        )
        params = RollingParams(1, 1, 0, 0.0, 30.0)
        with pytest.raises(Busy, match=rf"^rollout {rollout.id} is still in progress$"):
            h.controller.begin(other, RollingUpdate(v1.id, v2.id, params, 0.0), (v1.id, v2.id))
        assert h.controller.active is not None
        assert h.controller.active.rollout == rollout
        h.controller.cancel("test over")
        assert done.cancelled()

    run(main())


def test_cancel_marks_the_active_rollout_interrupted(tmp_path: Path, store: Store) -> None:
    v1 = new_revision(store, "v1", 2)

    async def main() -> None:
        h = Harness(tmp_path, store)
        _, done = h.start(None, v1.id, "initial")
        h.controller.cancel("agent stopped")
        assert h.controller.active is None
        assert done.cancelled()
        h.controller.cancel("again")  # nothing active: a no-op
        # A new rollout may begin once the old one is recorded as finished.
        second = store.start_rollout(
            from_revision=None, to_revision=v1.id, kind="restore", strategy="rolling", now=2.0
        )
        params = RollingParams(2, 1, 0, 0.0, 30.0)
        again = h.controller.begin(second, RollingUpdate(None, v1.id, params, 0.0), (v1.id,))
        h.controller.cancel("test over")
        assert again.cancelled()

    run(main())
    stored = store.rollout(1)
    assert (stored.phase, stored.reason, stored.finished_at) == (
        Phase.INTERRUPTED,
        "agent stopped",
        WALL,
    )
    assert store.revision(v1.id).status is RevisionStatus.FAILED
    assert store.active_rollout() is None


def test_cancel_mid_rollout_stops_driving_the_supervisor(tmp_path: Path, store: Store) -> None:
    v1 = new_revision(store, "v1", 2)

    async def main() -> None:
        h = Harness(tmp_path, store, backoff=600)
        h.spawner.fail_with = "boom"  # one boot failure, then a long backoff: no end in sight
        async with h.running():
            rollout, done = h.start(None, v1.id, "initial")
            while not any(i.state is S.BACKOFF for i in h.supervisor.replicas()):
                await asyncio.sleep(0.01)
            assert h.controller.active is not None
            h.controller.cancel("agent stopped")
            with pytest.raises(asyncio.CancelledError):
                await done
        assert store.rollout(rollout.id).phase is Phase.INTERRUPTED

    run(main())


def test_a_caller_giving_up_on_its_future_does_not_kill_the_controller(
    tmp_path: Path, store: Store
) -> None:
    v1, v2 = new_revision(store, "v1", 1), new_revision(store, "v2", 1)

    async def main() -> None:
        h = Harness(tmp_path, store)
        loop_task = asyncio.create_task(h.controller.run())
        try:
            _, first = h.start(None, v1.id, "initial")
            first.cancel()  # the caller stopped waiting
            while h.controller.active is not None and not loop_task.done():
                await asyncio.sleep(0.01)
            assert not loop_task.done(), loop_task.exception()
            _, second = h.start(v1.id, v2.id, "deploy")
            assert (await second).phase is Phase.SUCCEEDED
        finally:
            loop_task.cancel()
            await asyncio.gather(loop_task, return_exceptions=True)
            await h.supervisor.stop_all()

    run(main())


class Recording:
    """A strategy that keeps every decision its inner strategy made."""

    def __init__(self, inner: RollingUpdate) -> None:
        self.inner, self.decisions = inner, list[Decision]()

    @property
    def phase(self) -> Phase:
        return self.inner.phase

    def step(self, obs: Any, now: float, runs: Any) -> Decision:
        self.decisions.append(self.inner.step(obs, now, runs))
        return self.decisions[-1]

    def command(self, event: OperatorEvent, now: float) -> str:
        return self.inner.command(event, now)


def test_the_supervisor_stops_exactly_the_replicas_decisions_name(
    tmp_path: Path, store: Store
) -> None:
    v1, v2 = new_revision(store, "v1", 3), new_revision(store, "v2", 3)

    async def main() -> list[Decision]:
        h = Harness(tmp_path, store)
        async with h.running():
            _, first = h.start(None, v1.id, "initial")
            await first
            rollout = store.start_rollout(
                from_revision=v1.id, to_revision=v2.id, kind="deploy", strategy="rolling", now=2.0
            )
            params = RollingParams(3, 0, 1, 0.0, 30.0)  # surge 0: the stable shrinks first
            strategy = Recording(RollingUpdate(v1.id, v2.id, params, h.clock()))
            h.routing.calls.clear()
            await h.controller.begin(rollout, strategy, (v1.id, v2.id))
            stopped = [c[1] for c in h.routing.calls if c[0] == "set_routable" and not c[2]]
        named = [rid for d in strategy.decisions for ids in d.remove.values() for rid in ids]
        assert stopped == named == ["r1-1", "r1-2", "r1-3"]
        # all three were ready at the same clock time: the supervisor's own order (newest
        # index first) would have stopped r1-3 first; removal_order breaks the tie by id
        return strategy.decisions

    decisions = run(main())
    assert decisions[0].remove == {v1.id: ("r1-1",)}
    assert decisions[-1].phase is Phase.SUCCEEDED


def test_a_command_reaches_the_strategy_as_its_event(tmp_path: Path, store: Store) -> None:
    v1, v2 = new_revision(store, "v1", 1), new_revision(store, "v2", 1)

    async def main() -> None:
        h = Harness(tmp_path, store)
        async with h.running():
            _, first = h.start(None, v1.id, "initial")
            await first
            rollout, done = h.start(v1.id, v2.id, "deploy")
            assert h.controller.command(Command.PAUSE, "ci") == "rollout paused by ci"
            assert store.rollout(rollout.id).phase is Phase.PAUSED  # stored at once
            with pytest.raises(CommandRefused, match=r"^cannot pause a rollout that is paused$"):
                h.controller.command(Command.PAUSE)
            assert h.controller.command(Command.RESUME, "ci") == "rollout resumed by ci"
            assert (await done).phase is Phase.SUCCEEDED

    run(main())


def test_the_status_document_says_who_paused_the_active_rollout(
    tmp_path: Path, store: Store
) -> None:
    v1, v2 = new_revision(store, "v1", 1), new_revision(store, "v2", 1)

    async def main() -> None:
        h = Harness(tmp_path, store)
        async with h.running():
            _, first = h.start(None, v1.id, "initial")
            await first
            _, done = h.start(v1.id, v2.id, "deploy")
            h.controller.command(Command.PAUSE, "ci")
            active = h.controller.active
            assert active is not None
            doc = await until(lambda: active_rollout_doc(active, 0.0)["paused"], what="the hold")
            assert doc == {"by": "operator", "continue": ["resume"], "message": "paused by ci"}
            h.controller.command(Command.RESUME, "ci")
            assert active_rollout_doc(active, 0.0)["paused"] is None  # at once: the phase moved on
            await done

    run(main())


def obs_of(state: ReplicaState, replica_id: str) -> ReplicaObs:
    info = replica_info(replica_id, state, boot_failures=1 if state is S.BACKOFF else 0)
    return ReplicaObs(info.id, info.state, info.ready_since, info.boot_failures)


def test_observe_groups_by_revision_and_lists_every_requested_one() -> None:
    infos = [
        replica_info("r1-1", S.READY),
        replica_info("r2-1", S.BACKOFF, boot_failures=1),
        replica_info("r1-2", S.DRAINING),
        replica_info("r3-1", S.STARTING),  # not asked for: still reported
    ]
    assert observe(infos, [1, 2, 4]) == {
        1: RevisionObs(1, (obs_of(S.READY, "r1-1"), obs_of(S.DRAINING, "r1-2"))),
        2: RevisionObs(2, (obs_of(S.BACKOFF, "r2-1"),)),
        3: RevisionObs(3, (obs_of(S.STARTING, "r3-1"),)),
        4: RevisionObs(4, ()),
    }
    assert observe([], [5]) == {5: RevisionObs(5, ())}
    assert observe([], []) == {}
