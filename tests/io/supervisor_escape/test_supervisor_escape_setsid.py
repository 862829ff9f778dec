"""Real replicas whose grandchild calls setsid(): it dies with the replica, whether the
replica is stopped, its main process exits on its own, or it was adopted from a previous
agent (pytest is not a subreaper here, so these cover the recorded-descendants path)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psutil

from changeover.supervisor.adopt import Adoptee, Verdict
from changeover.supervisor.backoff import Backoff
from changeover.supervisor.fakes import RecordingRouting
from changeover.supervisor.sockets import HOST, free_port
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.subreaper import is_subreaper
from changeover.supervisor.supervisor import Supervisor
from tests.helpers import gone, until
from tests.io.supervisor_escape.escape_kit import read_pid, run, template


def test_setsid_grandchild_dies_when_the_replica_is_stopped(tmp_path: Path, token: str) -> None:
    async def main() -> None:
        sup = Supervisor(routing=RecordingRouting(), logs_dir=tmp_path / "logs")
        sup.scale(template(tmp_path, token, "setsid-child"), 1)
        pid = await until(lambda: read_pid(tmp_path / "escaped.pid"), what="grandchild pid")
        replica = sup.replicas()[0]
        assert replica.pid is not None
        assert os.getpgid(pid) == pid != replica.pid  # it left the replica's group
        sup.scale(template(tmp_path, token, "setsid-child"), 0)
        await sup.wait_terminated()
        assert sup.replica(replica.id).state is ReplicaState.EXITED
        await until(lambda: gone(pid), what=f"escaped grandchild {pid} to die")
        await sup.stop_all()

    run(main())


def test_setsid_grandchild_dies_when_main_exits_on_its_own(tmp_path: Path, token: str) -> None:
    # A long backoff: the test ends before a second process (and grandchild) starts.
    def slow() -> Backoff:
        return Backoff(initial=60.0, cap=60.0)

    async def main() -> None:
        sup = Supervisor(routing=RecordingRouting(), logs_dir=tmp_path / "logs", backoff=slow)
        sup.scale(template(tmp_path, token, "exit-on"), 1)
        pid = await until(lambda: read_pid(tmp_path / "escaped.pid"), what="grandchild pid")
        rid = sup.replicas()[0].id
        # White box: the periodic sweep (not a stop) must have recorded it first.
        watch = sup._escapes.watch
        await until(lambda: pid in watch.recorded.get(rid, {}), what="the sweep to record it")
        (tmp_path / "exit").touch()
        await until(lambda: sup.replica(rid).state is ReplicaState.BACKOFF, what="main exit")
        assert "exited with code 3" in sup.replica(rid).last_error
        await until(lambda: gone(pid), what=f"escaped grandchild {pid} to die")
        await sup.stop_all()

    run(main())


def test_pytest_itself_is_not_a_subreaper() -> None:
    assert not is_subreaper()  # the subreaper tests set it in a subprocess only


def test_adopted_replica_loses_its_recorded_grandchild(tmp_path: Path, token: str) -> None:
    # As after a reload: the replica is not this process's child (its shell parent exits).
    app = template(tmp_path, token, "setsid-child")
    shell = subprocess.run(
        ["/bin/sh", "-c", f"{app.command} >/dev/null 2>&1 & echo $!"],
        env=app.env,
        capture_output=True,
        text=True,
        check=True,
    )
    main_pid = int(shell.stdout)
    created = psutil.Process(main_pid).create_time()
    entry = Adoptee("r1-1", main_pid, created, free_port(HOST), None, ready=True)

    async def main() -> None:
        sup = Supervisor(routing=RecordingRouting(), logs_dir=tmp_path / "logs")
        assert sup.adopt(app, entry) is Verdict.ADOPT
        pid = await until(lambda: read_pid(tmp_path / "escaped.pid"), what="grandchild pid")
        assert psutil.Process(main_pid).ppid() != os.getpid()
        watch = sup._escapes.watch  # white box: wait for the periodic recording
        await until(lambda: pid in watch.recorded.get("r1-1", {}), what="the sweep to record it")
        await sup.stop_all()
        await until(lambda: gone(main_pid), what="the adopted main process to stop")
        await until(lambda: gone(pid), what=f"escaped grandchild {pid} to die")

    run(main())
