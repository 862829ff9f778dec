"""The reaper and the killer against real processes: children another waiter owns are
never reaped, an adopted zombie is; a pid is signalled only with its create time."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from changeover.supervisor import proctable
from changeover.supervisor.descendants import ProcView
from changeover.supervisor.escapes import EscapeGuard
from changeover.supervisor.spawn import PosixSpawner, SpawnSpec, spawn_group_leader
from changeover.supervisor.subreaper import kill_verified
from tests.helpers import wait_for
from tests.io.supervisor_escape.escape_kit import TOKEN_VAR, run


def zombie(pid: int) -> bool:
    return proctable.scan().get(pid, ProcView(0, 0, 0.0)).zombie


def no_processes() -> EscapeGuard:
    return EscapeGuard(list)


@pytest.mark.parametrize("new_session", [True, False])
def test_a_popen_child_is_never_reaped(new_session: bool, token: str) -> None:
    # asyncio's and subprocess's children lead their own session or share the agent's group.
    env = {**os.environ, TOKEN_VAR: token}
    proc = subprocess.Popen(["/bin/sh", "-c", "exit 7"], env=env, start_new_session=new_session)
    wait_for(lambda: zombie(proc.pid), what="the child to exit")
    guard = no_processes()
    assert proc.pid not in guard.sweep(proctable.scan())
    assert zombie(proc.pid)
    assert proc.wait(5) == 7


def test_a_child_process_is_never_reaped_by_the_sweep(tmp_path: Path, token: str) -> None:
    spec = SpawnSpec(["/bin/sh", "-c", "exit 5"], tmp_path, {TOKEN_VAR: token}, tmp_path / "log")

    async def main() -> None:
        child = PosixSpawner().spawn(spec)
        # Blocking on purpose: the loop must not reap it before the sweep looks.
        wait_for(lambda: zombie(child.pid), what="the child to exit")
        assert child.pid not in no_processes().sweep(proctable.scan())
        assert await child.wait() == 5

    run(main())


def test_an_adopted_zombie_in_a_third_group_is_reaped(token: str) -> None:
    env = {**os.environ, TOKEN_VAR: token}
    sleep = ["/bin/sh", "-c", "exec sleep 60"]
    leader = os.posix_spawn("/bin/sh", sleep, env, setpgroup=0)
    # A direct child in another child's group: what an orphan adopted by the agent looks like.
    member = os.posix_spawn("/bin/sh", ["/bin/sh", "-c", "exit 0"], env, setpgroup=leader)
    try:
        wait_for(lambda: zombie(member), what="the member to exit")
        assert member in no_processes().sweep(proctable.scan())
        assert not os.path.exists(f"/proc/{member}")
        with pytest.raises(ChildProcessError):
            os.waitpid(member, os.WNOHANG)
    finally:
        os.kill(leader, 9)
        os.waitpid(leader, 0)


def test_a_group_leader_zombie_is_left_to_its_owner(token: str) -> None:
    env = {**os.environ, TOKEN_VAR: token}
    pid = spawn_group_leader(["/bin/sh", "-c", "exit 4"], env, [])
    wait_for(lambda: zombie(pid), what="the leader to exit")
    assert pid not in no_processes().sweep(proctable.scan())
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 4


def test_kill_verified_never_signals_a_reused_pid(token: str) -> None:
    env = {**os.environ, TOKEN_VAR: token}
    proc = subprocess.Popen(["sleep", "60"], env=env)
    try:
        created = psutil.Process(proc.pid).create_time()
        assert not kill_verified(proc.pid, created + 30.0, proctable.create_time)
        assert proc.poll() is None  # another process under the same pid: left alone
        assert kill_verified(proc.pid, created, proctable.create_time)
        assert proc.wait(5) == -9
        assert not kill_verified(proc.pid, created, proctable.create_time)
    finally:
        proc.kill()
        proc.wait(5)


def test_both_table_readers_agree_with_psutil() -> None:
    me, parent = os.getpid(), os.getppid()
    for read in (proctable.scan_proc, proctable.scan_psutil):
        table = read()
        assert table[me].ppid == parent
        assert table[me].pgid == os.getpgrp()
        assert table[me].create_time == pytest.approx(psutil.Process().create_time(), abs=0.01)
        assert not table[me].zombie


def test_the_marker_is_read_from_the_environment(token: str) -> None:
    env = {**os.environ, TOKEN_VAR: token, "CHANGEOVER_REPLICA": "r7-2"}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        wait_for(lambda: proctable.read_marker(proc.pid) == "r7-2", what="the marker")
    finally:
        proc.kill()
        proc.wait(5)
    assert proctable.read_marker(proc.pid) is None  # gone: nothing to read


def test_close_waits_for_nothing_when_nothing_was_killed() -> None:
    async def main() -> None:
        guard = no_processes()
        guard.start()
        await asyncio.sleep(0)
        await guard.close(settle=5.0)
        assert guard._task is None

    run(main(), timeout=2.0)
