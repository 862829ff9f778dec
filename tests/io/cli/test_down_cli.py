"""`changeover down` when no agent answers, run as a real CLI process: with no agent it is
idempotent and says so (exit 0), after removing a dead agent's socket and pid file; replicas
a dead agent left running are named, not killed (exit 1); an agent that holds the lock but
does not answer is reported with its pid and what to do (exit 3), nothing touched."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from changeover.agent.lock import is_locked
from changeover.agent.paths import StatePaths
from changeover.store import Store
from tests.accounts import two_accounts
from tests.helpers import wait_for

SPEC = '[app]\nname = "svc"\ncommand = "sleep 600"\n'


@pytest.fixture
def folder(short_tmp: Path) -> Path:
    (short_tmp / "changeover.toml").write_text(SPEC)
    return short_tmp


@pytest.fixture
def paths(folder: Path) -> StatePaths:
    return StatePaths.resolve(None, folder / "changeover.toml")


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts, killed by pid at its end."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait(timeout=30)


def down(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHANGEOVER_")}
    return subprocess.run(
        [sys.executable, "-m", "changeover", "down", *args], cwd=folder, capture_output=True,
        text=True, timeout=120, env=env | {"COLUMNS": "300", "NO_COLOR": "1"}, check=False,
    )  # fmt: skip


def as_json(done: subprocess.CompletedProcess[str], code: int) -> Any:
    assert done.returncode == code, done.stdout + done.stderr
    return json.loads(done.stdout)


def stale_files(paths: StatePaths) -> int:
    """What an agent killed with SIGKILL leaves: its lock file (free), its socket file
    (bound, nobody listening) and its pid file naming a pid that is gone; that pid."""
    paths.ensure()
    paths.lock.touch()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(paths.control_socket))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    paths.pid_file.write_text(f"{gone.pid}\n")
    return gone.pid


def test_no_agent_ever_ran_says_nothing_to_stop(folder: Path, paths: StatePaths) -> None:
    done = down(folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"no agent is running for {paths.root}: nothing to stop"
    doc = as_json(down(folder, "--json"), 0)
    assert doc == {
        "running": False, "stopped": False, "pid": None, "state_dir": str(paths.root),
        "replicas": [], "inflight": None,
        "reason": f"no agent is running for {paths.root}: nothing to stop",
        "removed": [], "left_running": [],
    }  # fmt: skip
    assert not paths.root.exists()  # looking created nothing


def test_a_dead_agents_socket_and_pid_file_are_removed_and_named(
    folder: Path, paths: StatePaths
) -> None:
    pid = stale_files(paths)
    done = down(folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"no agent is running for {paths.root}: nothing to stop",
        f"removed {paths.control_socket} and {paths.pid_file}, left by agent pid {pid}, "
        "which did not stop cleanly",
    ]
    assert not paths.control_socket.exists()
    assert not paths.pid_file.exists()
    again = as_json(down(folder, "--json"), 0)  # idempotent: nothing left to remove
    assert (again["running"], again["stopped"], again["removed"]) == (False, False, [])

    stale_files(paths)
    doc = as_json(down(folder, "--json"), 0)
    assert doc["removed"] == [str(paths.control_socket), str(paths.pid_file)]
    assert doc["reason"].startswith(f"no agent is running for {paths.root}: nothing to stop; ")


def test_replicas_a_dead_agent_left_running_are_named_not_killed(
    folder: Path, paths: StatePaths, spawned: list[subprocess.Popen[bytes]]
) -> None:
    stale_files(paths)
    replica = subprocess.Popen(["sleep", "600"], start_new_session=True)
    spawned.append(replica)
    with Store.open(paths.store) as store:
        rev = store.create_revision(
            version="v1", path=str(folder), command="sleep 600", env={}, spec={}, replicas=1,
            now=1.0,
        )  # fmt: skip
        store.record_replica(
            "r1-1", revision=rev.id, pid=replica.pid, pgid=replica.pid,
            create_time=psutil.Process(replica.pid).create_time(), now=1.0,
        )  # fmt: skip
        store.record_replica(  # one that has exited since: not named
            "r1-2", revision=rev.id, pid=replica.pid, pgid=replica.pid, create_time=1.0, now=1.0
        )
    done = down(folder)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"replicas its last agent started are still running: r1-1 (pid {replica.pid})" in (
        done.stderr
    )
    assert "r1-2" not in done.stderr
    assert "changeover up" in done.stderr
    assert replica.poll() is None  # not killed behind the store's back
    doc = as_json(down(folder, "--json"), 1)
    assert doc["left_running"] == [{"id": "r1-1", "revision": rev.id, "pid": replica.pid}]
    assert doc["stopped"] is False
    assert replica.poll() is None


HUNG = textwrap.dedent(
    """
    import socket, sys, time
    from pathlib import Path
    from changeover.agent.lock import AgentLock
    from changeover.agent.paths import StatePaths
    paths = StatePaths(Path(sys.argv[1]))
    paths.ensure()
    AgentLock(paths.lock, paths.pid_file).acquire()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(paths.control_socket))
    sock.listen(8)  # accepts nothing: a hung agent
    time.sleep(600)
    """
)


def test_an_agent_that_does_not_answer_is_exit_3_with_what_to_do(
    folder: Path, paths: StatePaths, spawned: list[subprocess.Popen[bytes]]
) -> None:
    hung = subprocess.Popen([sys.executable, "-c", HUNG, str(paths.root)])
    spawned.append(hung)
    wait_for(
        lambda: is_locked(paths.lock) and paths.control_socket.exists() and paths.pid_file.exists(),
        30,
        "the hung agent to hold its lock and socket",
    )
    done = down(folder, "--timeout", "1s")
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout == ""
    text = " ".join(done.stderr.split())
    assert f"the agent (pid {hung.pid}) holds the lock of {paths.root}" in text
    assert f"control socket {paths.control_socket}" in text
    assert "nothing was stopped" in text
    assert f"`kill {hung.pid}`" in text
    assert hung.poll() is None  # nothing touched: its process, lock, socket and pid file
    assert is_locked(paths.lock)
    assert paths.control_socket.exists()
    assert paths.pid_file.exists()
    as_json_run = down(folder, "--timeout", "1s", "--json")
    assert as_json_run.returncode == 3
    assert as_json_run.stdout == ""  # the error is on stderr, as with every command


GROUP_HUNG = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from changeover.agent.control import bind_control_socket
    from changeover.agent.lock import AgentLock
    from changeover.agent.paths import StatePaths
    paths = StatePaths(Path(sys.argv[1]))
    paths.ensure()
    AgentLock(paths.lock, paths.pid_file).acquire()
    sock = bind_control_socket(paths.control_socket, sys.argv[2])  # 0660, folder 0710
    time.sleep(600)  # listens, accepts nothing
    """
)


def test_a_group_member_who_cannot_read_the_lock_is_told_the_same(
    spawned: list[subprocess.Popen[bytes]],
) -> None:
    """`[control] group`: a member reaches the socket, not the agent's 0600 lock. A hung
    agent is still exit 3 with its pid; once it is gone (its files left), exit 0."""
    with two_accounts() as accounts:
        (accounts.folder / "changeover.toml").write_text(SPEC)
        os.chmod(accounts.folder / "changeover.toml", 0o644)
        state = accounts.folder / ".changeover"  # as `down` finds it beside the spec
        hung = subprocess.Popen([sys.executable, "-c", GROUP_HUNG, str(state), accounts.group])
        spawned.append(hung)
        paths = StatePaths(state)
        wait_for(lambda: paths.control_socket.exists() and paths.pid_file.exists(), 30, "socket")
        argv = [*accounts.changeover(), "down", "--timeout", "1s"]
        done = accounts.run_as(accounts.alice, argv, cwd=accounts.folder)
        assert done.returncode == 3, done.stdout + done.stderr
        text = " ".join(done.stderr.split())
        assert f"the agent (pid {hung.pid}) runs for {state} (this account cannot read" in text
        assert f"`kill {hung.pid}`" in text
        assert hung.poll() is None
        hung.kill()
        hung.wait(timeout=30)
        gone = accounts.run_as(accounts.alice, argv, cwd=accounts.folder)
        assert gone.returncode == 0, gone.stdout + gone.stderr
        assert f"no agent is running for {state}: nothing to stop" in gone.stdout
