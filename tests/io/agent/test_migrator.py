"""The agent's migration steps with real commands (`agent.migrator`): each step's start
and end are stored with their event; a failure keeps exit, time and the redacted tail; a
timeout kills the command's whole process group; a rollout that expands first starts its
replicas only after the expand succeeded, else ends FAILED before any started; a cancel
(the agent stopping) leaves the step failed and the rollout interrupted, never running."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest

from changeover.agent.events import EventLog
from changeover.agent.migrator import Migrator
from changeover.migrations.decide import Scene
from changeover.migrations.state import SchemaState, Step
from changeover.rollout.decision import Decision
from changeover.rollout.phase import Phase
from changeover.spec.migrations import MigrationSettings
from changeover.store import Revision, RolloutKind, Store
from tests.helpers import gone, wait_for
from tests.io.store._helpers import roll

SECRET = "hunter2-db-password"


def migrator(
    store: Store, tmp_path: Path, settings: MigrationSettings, scene: Scene | None = None
) -> Migrator:
    def env(rev: Revision) -> tuple[Mapping[str, str], list[str]]:
        return {"DB_PASSWORD": SECRET, "MARK": str(tmp_path / f"mark-{rev.id}")}, [SECRET]

    return Migrator(
        store=store,
        events=EventLog(store),
        settings=lambda rev: settings,
        env=env,
        scene=lambda revision: scene or Scene(stable=None),
        log_path=tmp_path / "migrations.log",
    )


def release(store: Store, tmp_path: Path, version: str = "v2") -> int:
    """A revision whose folder is in the test's own folder."""
    folder = tmp_path / "releases" / version
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"name": "app", "replicas": 1}
    rev = store.create_revision(
        version=version, path=str(folder), command="x", env={}, spec=spec, replicas=1, now=1.0
    )
    return rev.id


@pytest.fixture
def srv(tmp_path: Path) -> Path:
    return tmp_path


def migration_events(store: Store) -> list[str]:
    return [e.message for e in store.events(after_id=0) if e.kind == "migration"]


def test_a_step_runs_in_the_release_folder_with_its_secret_never_kept(
    store: Store, srv: Path
) -> None:
    rev = release(store, srv)
    settings = MigrationSettings(
        expand='pwd > "$MARK"; echo "using $DB_PASSWORD"; echo applied >&2',
        status='echo "head=0002 ($DB_PASSWORD)"',
    )
    outcome = asyncio.run(migrator(store, srv, settings).run(Step.EXPAND, rev))
    assert outcome.ok
    assert (srv / f"mark-{rev}").read_text().strip() == store.revision(rev).path
    record = store.schema_record(rev)
    assert record is not None
    assert (record.state, record.exit_code, record.schema) == (
        SchemaState.EXPANDED, 0, "head=0002 (***)",
    )  # fmt: skip
    assert record.detail == "using *** | applied"
    events = migration_events(store)
    assert events[0].startswith(f"expand of revision {rev} (v2) started: `pwd")
    assert events[1].startswith(f"expand of revision {rev} (v2) succeeded in ")
    log = (srv / "migrations.log").read_text()
    assert "using ***" in log
    assert "== exit 0 after" in log
    assert SECRET not in log + "".join(events) + record.detail


def test_a_failure_keeps_its_exit_and_tail(store: Store, srv: Path) -> None:
    rev = release(store, srv)
    settings = MigrationSettings(expand='echo "one"; echo "pw=$DB_PASSWORD" >&2; exit 4')
    outcome = asyncio.run(migrator(store, srv, settings).run(Step.EXPAND, rev))
    assert not outcome.ok
    assert outcome.why.startswith("exit 4 after ")
    assert outcome.why.endswith(": one | pw=***")
    record = store.schema_record(rev)
    assert record is not None
    assert (record.state, record.exit_code) == (SchemaState.EXPAND_FAILED, 4)
    assert migration_events(store)[-1] == f"expand of revision {rev} (v2) failed: {outcome.why}"


def test_a_timeout_kills_the_whole_group(store: Store, srv: Path) -> None:
    rev = release(store, srv)
    pidfile = srv / "child.pid"
    settings = MigrationSettings(expand=f"sleep 60 & echo $! > {pidfile}; wait", timeout="500ms")  # type: ignore[arg-type]
    outcome = asyncio.run(migrator(store, srv, settings).run(Step.EXPAND, rev))
    assert not outcome.ok
    assert outcome.why == "timed out after 500ms (its processes were killed)"
    child = int(pidfile.read_text())
    wait_for(lambda: gone(child), 5, "the background sleep killed")
    assert store.schema_record(rev).state is SchemaState.EXPAND_FAILED  # type: ignore[union-attr]


def rollout_to(store: Store, rev: int) -> object:
    return store.start_rollout(
        from_revision=1, to_revision=rev, kind=RolloutKind.DEPLOY, strategy="rolling", now=5.0
    )


def test_a_rollout_starts_its_replicas_only_after_its_expand_succeeded(
    store: Store, srv: Path
) -> None:
    roll(store, None, release(store, srv, "v1"), kind=RolloutKind.INITIAL)
    rev = release(store, srv)
    settings = MigrationSettings(expand='test ! -e "$MARK" && touch "$MARK"')
    began: list[bool] = []

    async def scenario() -> Decision:
        m = migrator(store, srv, settings)
        rollout = rollout_to(store, rev)

        def begin() -> asyncio.Future[Decision]:
            began.append((srv / f"mark-{rev}").exists())  # the expand ran before
            done: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
            done.set_result(Decision(phase=Phase.SUCCEEDED, scale={}, events=()))
            return done

        future = m.expand_first(rollout, begin)  # type: ignore[arg-type]
        assert m.expanding is rollout
        decision = await future
        assert m.expanding is None
        return decision

    assert asyncio.run(scenario()).phase is Phase.SUCCEEDED
    assert began == [True]


def test_a_failing_expand_fails_the_rollout_before_any_replica(store: Store, srv: Path) -> None:
    roll(store, None, release(store, srv, "v1"), kind=RolloutKind.INITIAL)
    rev = release(store, srv)
    settings = MigrationSettings(expand="echo 'no such table' >&2; exit 1")
    told: list[tuple[Phase, str]] = []

    async def scenario() -> Decision:
        m = migrator(store, srv, settings)
        m._on_failed = lambda rollout, why: told.append((rollout.phase, why))
        rollout = rollout_to(store, rev)
        return await m.expand_first(rollout, lambda: pytest.fail("no replica may start"))  # type: ignore[arg-type]

    decision = asyncio.run(scenario())
    assert decision.phase is Phase.FAILED
    assert decision.reason.startswith("expand failed: exit 1 after ")
    assert decision.reason.endswith(f"no such table; no replica of revision {rev} started")
    rollout = store.rollouts(limit=1)[0]
    assert (rollout.phase, rollout.reason) == (Phase.FAILED, decision.reason)
    assert store.stable_revision().id == 1  # type: ignore[union-attr]
    last = [e.message for e in store.events(after_id=0) if e.kind == "rollout"][-1]
    assert last.endswith("; revision 1 keeps serving")
    assert told == [(Phase.FAILED, decision.reason)]  # counted and notified as a failure


def test_a_stopping_agent_leaves_the_step_failed_and_the_rollout_interrupted(
    store: Store, srv: Path
) -> None:
    roll(store, None, release(store, srv, "v1"), kind=RolloutKind.INITIAL)
    rev = release(store, srv)
    settings = MigrationSettings(expand='touch "$MARK"; sleep 60')

    async def scenario() -> None:
        m = migrator(store, srv, settings)
        future = m.expand_first(rollout_to(store, rev), lambda: pytest.fail("no replica"))  # type: ignore[arg-type]
        while not (srv / f"mark-{rev}").exists():
            await asyncio.sleep(0.02)
        assert m.busy == f"expand of revision {rev} (v2)"
        await m.close()
        assert future.cancelled()
        assert m.busy is None

    asyncio.run(scenario())
    rollout = store.rollouts(limit=1)[0]
    assert rollout.phase is Phase.INTERRUPTED
    record = store.schema_record(rev)
    assert record is not None
    assert (record.state, record.detail) == (SchemaState.EXPAND_FAILED, "the agent stopped")


def test_the_watch_runs_a_due_contract_once(store: Store, srv: Path) -> None:
    roll(store, None, release(store, srv, "v1"), kind=RolloutKind.INITIAL)
    counter = srv / "contracts"
    settings = MigrationSettings(expand="true", contract=f"echo x >> {counter}")
    store.schema_start(1, Step.EXPAND, "true", message="e", now=1.0)
    store.schema_end(1, ok=True, exit_code=0, duration=0.0, detail="", message="ok", now=2.0)

    def scene(revision: int | None = None) -> Scene:
        records = tuple(r.record() for r in store.schema_records())
        return Scene(stable=1, records=records, configured=frozenset(Step), last_succeeded=True)

    async def scenario() -> None:
        m = migrator(store, srv, settings)
        m._scene = scene
        watch = asyncio.create_task(m.watch(every=0.02))
        while store.schema_record(1).state is not SchemaState.CONTRACTED:  # type: ignore[union-attr]
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # more rounds: it is not due again
        watch.cancel()

    asyncio.run(scenario())
    assert counter.read_text() == "x\n"


def test_the_watch_rolls_back_an_expand_left_behind_once(store: Store, srv: Path) -> None:
    roll(store, None, release(store, srv, "v1"), kind=RolloutKind.INITIAL)
    left = release(store, srv, "v2")  # its rollout failed and rolled back to revision 1
    counter = srv / "rollbacks"
    settings = MigrationSettings(expand="true", rollback=f"echo x >> {counter}; exit 1")
    for rev in (1, left):
        store.schema_start(rev, Step.EXPAND, "true", message="e", now=1.0)
        store.schema_end(rev, ok=True, exit_code=0, duration=0.0, detail="", message="ok", now=2.0)
    configured = frozenset({Step.EXPAND, Step.ROLLBACK})  # no contract: only the rollback is due

    def scene(revision: int | None = None) -> Scene:
        records = tuple(r.record() for r in store.schema_records())
        return Scene(stable=1, records=records, configured=configured, last_succeeded=True)

    async def scenario() -> None:
        m = migrator(store, srv, settings)
        m._scene = scene
        watch = asyncio.create_task(m.watch(every=0.02))
        while store.schema_record(left).state is not SchemaState.ROLLBACK_FAILED:  # type: ignore[union-attr]
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # more rounds: a failed rollback is a person's to retry
        watch.cancel()

    asyncio.run(scenario())
    assert counter.read_text() == "x\n"
    assert store.schema_record(1).state is SchemaState.EXPANDED  # type: ignore[union-attr]
