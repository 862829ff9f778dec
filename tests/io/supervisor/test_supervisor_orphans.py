"""Killing replicas of a dead agent by recorded pid, with the pid-reuse guard."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from changeover.supervisor.orphans import OrphanRecord, kill_orphans
from changeover.supervisor.process import ChildProcess
from changeover.supervisor.spawn import PosixSpawner, SpawnSpec
from tests.helpers import gone, until
from tests.io.supervisor.supervisor_helpers import TOKEN_VAR, run


def spawn_sleeper(tmp_path: Path, token: str, script: str) -> ChildProcess:
    env = {"PATH": os.environ["PATH"], TOKEN_VAR: token}
    log = tmp_path / f"{len(list(tmp_path.glob('*.log')))}.log"
    spec = SpawnSpec(["/bin/sh", "-c", f"{script}\necho armed\nwait"], tmp_path, env, log)
    child = PosixSpawner().spawn(spec)
    assert isinstance(child, ChildProcess)
    return child


def record(rid: str, child: ChildProcess, skew: float = 0.0) -> OrphanRecord:
    assert child.create_time is not None
    return OrphanRecord(rid, child.pid, child.pgid, child.create_time + skew)


def test_kills_recorded_orphans_but_not_reused_pids(tmp_path: Path, token: str) -> None:
    async def main() -> None:
        polite = spawn_sleeper(tmp_path, token, "sleep 600 &")
        stubborn = spawn_sleeper(tmp_path, token, "trap '' TERM; sleep 600 &")
        stranger = spawn_sleeper(tmp_path, token, "sleep 600 &")
        await until(lambda: all("armed" in p.read_text() for p in tmp_path.glob("*.log")))
        try:
            records = [
                record("r1-1", polite),
                record("r1-2", stubborn),
                record("r1-3", stranger, skew=-3600.0),  # same pid, different process
                ("r1-4", 4_000_001, 4_000_001, 0.0),  # long gone
            ]
            killed = await kill_orphans(records, grace=0.3)
            assert sorted(killed) == ["r1-1", "r1-2"]
            assert await polite.wait() == -signal.SIGTERM
            assert await stubborn.wait() == -signal.SIGKILL
            assert stranger.returncode is None
            assert not gone(stranger.pid)
        finally:
            for child in (polite, stubborn, stranger):
                child.kill_group(signal.SIGKILL)
            codes = [await child.wait() for child in (polite, stubborn, stranger)]
        assert codes[2] == -signal.SIGKILL
        assert all(gone(child.pid) for child in (polite, stubborn, stranger))

    run(main())
