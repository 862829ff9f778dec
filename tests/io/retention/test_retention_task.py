"""The periodic retention task: one round acts on real files and a real store; failures
become warnings and one event, and never stop the task."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import pytest

from changeover.agent import retention_files
from changeover.agent.artifacts import Artifacts
from changeover.agent.events import EventLog
from changeover.agent.paths import StatePaths
from changeover.agent.retention import Limits
from changeover.agent.retention_task import Retention, Settings, for_agent
from changeover.spec.load import load_spec_text
from changeover.store import Store
from changeover.supervisor.state import ReplicaState
from tests.helpers import bounded
from tests.io.agent._fakes import replica_info

T = TypeVar("T")
DAY = 86400.0
NOW = 1_800_000_000.0
GUARD = 10.0  # seconds; only reached by a failing test
SETTINGS = Settings(Limits(max_size=100, keep=2, retain_stopped=7 * DAY), events_keep=3)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return bounded(coro, GUARD)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state.db") as s:
        yield s


def put(folder: Path, name: str, size: int, age: float) -> Path:
    path = folder / name
    path.write_bytes(b"x" * (size - 1) + b"\n")
    os.utime(path, (NOW - age, NOW - age))
    return path


class Reports(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


def retention(logs: Path, store: Store, running: set[str], reports: Reports) -> Retention:
    return Retention(
        logs_dir=logs,
        settings=SETTINGS,
        running=lambda: running,
        trim_events=store.trim_events,
        report=reports,
        wall=lambda: NOW,
    )


def test_a_round_rotates_deletes_and_trims(tmp_path: Path, store: Store) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    put(logs, "r2-1.log", 500, 0)
    put(logs, "r2-1.log.2", 10, DAY)
    put(logs, "r2-1.log.3", 10, DAY)
    put(logs, "r1-1.log", 500, 8 * DAY)
    put(logs, "r1-2.log", 10, DAY)
    events = [store.add_event("note", f"e{i}", now=NOW) for i in range(5)]
    reports = Reports()
    assert run(retention(logs, store, {"r2-1"}, reports).round()) == []
    names = sorted(p.name for p in logs.iterdir())
    assert names == ["r1-2.log", "r2-1.log", "r2-1.log.1", "r2-1.log.2"]
    assert (logs / "r2-1.log").stat().st_size == 0
    assert (logs / "r2-1.log.1").stat().st_size == 500
    assert (logs / "r2-1.log.2").stat().st_size == 10  # the old .2 went on to .3, then out
    assert [e.id for e in store.events()] == [e.id for e in events[-3:]]
    assert reports == []


def test_failures_are_reported_once_while_they_last(tmp_path: Path, store: Store) -> None:
    reports = Reports()
    keeper = retention(tmp_path / "missing", store, set(), reports)
    problems = run(keeper.round())
    assert problems == [f"cannot list {tmp_path / 'missing'}: No such file or directory"]
    run(keeper.round())
    assert reports == [f"log retention: {problems[0]}"]  # not repeated every minute
    (tmp_path / "missing").mkdir()
    assert run(keeper.round()) == []
    (tmp_path / "missing").rmdir()
    run(keeper.round())
    assert len(reports) == 2  # a problem that comes back is reported again


def test_a_failed_rotation_or_trim_is_a_problem_not_a_crash(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(dir_fd: int, replica: str, keep: int, reopens: bool = False) -> int:
        raise OSError(28, "No space left on device")

    def broken(keep: int) -> int:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(retention_files, "rotate", refuse)
    logs = tmp_path / "logs"
    logs.mkdir()
    put(logs, "r1-1.log", 500, 0)
    reports = Reports()
    keeper = retention(logs, store, {"r1-1"}, reports)
    keeper._trim_events = broken
    assert run(keeper.round()) == [
        "cannot rotate r1-1.log: No space left on device",
        "cannot trim events: database is locked",
    ]
    assert len(reports) == 1


def test_the_task_runs_at_once_then_periodically_and_survives_a_crash(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    keeper = retention(tmp_path, store, set(), Reports())
    rounds: list[int] = []
    enough = asyncio.Event()

    async def flaky() -> list[str]:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("a bug")
        if len(rounds) == 3:
            enough.set()
        return []

    monkeypatch.setattr(keeper, "round", flaky)

    async def scenario() -> None:
        task = asyncio.create_task(keeper.run(every=0.001))
        await enough.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, logger="changeover.retention"):
        run(scenario())
    assert "log and event retention failed" in caplog.text
    assert rounds == [0, 1, 2]


def test_settings_come_from_the_spec() -> None:
    spec = load_spec_text(
        '[app]\nname = "a"\ncommand = "x"\n[logs]\nmax_size = "1KB"\nkeep = 5\n'
        'retain_stopped = "1h"\n[events]\nkeep = 10\n',
        "svc.toml",
    )
    assert Settings.from_spec(spec) == Settings(Limits(1024, 5, 3600.0), 10)


def test_the_agent_wiring_protects_live_and_recorded_replicas(tmp_path: Path, store: Store) -> None:
    paths = StatePaths(tmp_path / "state")
    paths.ensure()
    for replica in ("r1-1", "r1-2", "r1-3", "r1-4"):
        put(paths.logs, f"{replica}.log", 10, 30 * DAY)
    rev = store.create_revision(
        version="v1", path="/srv", command="x", env={}, spec={}, replicas=1, now=NOW
    )
    store.record_replica("r1-3", revision=rev.id, pid=1, pgid=1, create_time=1.0, now=NOW)
    supervisor = SimpleNamespace(
        replicas=lambda: [
            replica_info("r1-1", ReplicaState.READY),
            replica_info("r1-2", ReplicaState.EXITED),
            replica_info("r1-4", ReplicaState.BACKOFF),
        ]
    )
    spec = load_spec_text('[app]\nname = "a"\ncommand = "x"\n', "svc.toml")
    events = EventLog(store, lambda: NOW)
    agent = SimpleNamespace(
        paths=paths,
        spec=spec,
        store=store,
        supervisor=supervisor,
        events=events,
        wall=lambda: NOW,
        artifacts=Artifacts(paths.releases),  # none held: nothing to prune
    )
    keeper = for_agent(cast(Any, agent))
    assert keeper.settings == Settings(Limits(10 * 1024**2, 3, 7 * DAY), 100_000)
    assert run(keeper.round()) == []
    assert sorted(p.name for p in paths.logs.iterdir()) == ["r1-1.log", "r1-3.log", "r1-4.log"]
    keeper._report("log retention: test")
    assert [(e.kind, e.message) for e in store.events()] == [("agent", "log retention: test")]
