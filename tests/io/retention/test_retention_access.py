"""The access log's rotation on real files: renamed, not copied, so a writer holding it
open loses nothing; the retention task rotates it only while the spec turns it on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from changeover.agent.artifacts import Artifacts
from changeover.agent.events import EventLog
from changeover.agent.paths import StatePaths
from changeover.agent.retention import ACCESS, Limits
from changeover.agent.retention_files import logs_folder, rotate
from changeover.agent.retention_task import Retention, Settings, for_agent
from changeover.spec.load import load_spec_text
from changeover.store import Store
from tests.helpers import bounded

DAY = 86400.0
NOW = 1_800_000_000.0
LIMITS = Limits(max_size=100, keep=2, retain_stopped=7 * DAY)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state.db") as s:
        yield s


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


def put(path: Path, size: int, age: float = 0.0) -> None:
    path.write_bytes(b"x" * (size - 1) + b"\n")
    os.utime(path, (NOW - age, NOW - age))


def round_of(logs: Path, store: Store, settings: Settings) -> list[str]:
    keeper = Retention(
        logs_dir=logs,
        settings=settings,
        running=lambda: {"r1-1"},
        trim_events=store.trim_events,
        report=lambda message: None,
        wall=lambda: NOW,
    )
    return bounded(keeper.round(), 10.0)


def test_a_rename_rotation_loses_nothing_the_writer_writes_meanwhile(logs: Path) -> None:
    (logs / "access.log.1").write_bytes(b"older\n")
    fd = os.open(logs / "access.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"one\n")
        with logs_folder(logs) as dir_fd:
            assert rotate(dir_fd, ACCESS, keep=2, reopens=True) == 4
        os.write(fd, b"two\n")  # before the writer notices: lands in the renamed file
    finally:
        os.close(fd)
    assert not (logs / "access.log").exists()  # free for the writer to reopen
    assert (logs / "access.log.1").read_bytes() == b"one\ntwo\n"
    assert (logs / "access.log.2").read_bytes() == b"older\n"


def test_a_round_renames_the_access_log_and_copy_truncates_a_replicas(
    logs: Path, store: Store
) -> None:
    put(logs / "access.log", 500)
    put(logs / "r1-1.log", 500)
    assert round_of(logs, store, Settings(LIMITS, 10, access_log=True)) == []
    assert sorted(p.name for p in logs.iterdir()) == ["access.log.1", "r1-1.log", "r1-1.log.1"]
    assert (logs / "access.log.1").stat().st_size == 500
    assert (logs / "r1-1.log").stat().st_size == 0  # copied, then truncated


def test_while_off_the_access_log_is_only_removed_once_stale(logs: Path, store: Store) -> None:
    put(logs / "access.log", 500, age=DAY)
    assert round_of(logs, store, Settings(LIMITS, 10)) == []
    assert (logs / "access.log").stat().st_size == 500  # not written: never rotated
    put(logs / "access.log", 500, age=8 * DAY)
    assert round_of(logs, store, Settings(LIMITS, 10)) == []
    assert not (logs / "access.log").exists()


def test_the_agent_wiring_follows_the_spec(tmp_path: Path, store: Store) -> None:
    paths = StatePaths(tmp_path / "state")
    paths.ensure()
    put(paths.logs / "access.log", 20 * 1024**2)
    text = '[app]\nname = "a"\ncommand = "x"\n[proxy]\naccess_log = true\n'
    agent = SimpleNamespace(
        paths=paths,
        spec=load_spec_text(text, "svc.toml"),
        store=store,
        supervisor=SimpleNamespace(replicas=list),
        events=EventLog(store, lambda: NOW),
        wall=lambda: NOW,
        artifacts=Artifacts(paths.releases),  # none held: nothing to prune
    )
    keeper = for_agent(cast(Any, agent))
    assert keeper.settings.access_log is True
    assert bounded(keeper.round(), 10.0) == []
    assert sorted(p.name for p in paths.logs.iterdir()) == ["access.log.1"]
