"""AgentLock: one agent per state directory, held by flock, released by the kernel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from changeover.agent.lock import AgentLock, AlreadyRunning, is_locked, read_pid, write_atomic

HOLDER = """
import sys
from pathlib import Path
from changeover.agent.lock import AgentLock
lock = AgentLock(Path(sys.argv[1]), Path(sys.argv[2]))
lock.acquire()
print("locked", flush=True)
sys.stdin.read()  # hold until the test closes stdin (or kills us)
lock.release()
print("released", flush=True)
"""


@contextmanager
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that takes the lock and keeps it until stdin closes."""
    argv = [sys.executable, "-c", HOLDER, str(tmp_path / "agent.lock"), str(tmp_path / "agent.pid")]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "locked\n"  # blocks until it holds the lock
            yield proc
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)  # by pid: only the process we started
            proc.wait(timeout=10)


def make_lock(tmp_path: Path) -> AgentLock:
    return AgentLock(tmp_path / "agent.lock", tmp_path / "agent.pid")


def test_acquire_writes_the_pid_and_release_removes_it(tmp_path: Path) -> None:
    lock = make_lock(tmp_path)
    assert not is_locked(tmp_path / "agent.lock")
    lock.acquire()
    try:
        assert (tmp_path / "agent.pid").read_text() == f"{os.getpid()}\n"
        assert read_pid(tmp_path / "agent.pid") == os.getpid()
        assert is_locked(tmp_path / "agent.lock")
    finally:
        lock.release()
    assert not (tmp_path / "agent.pid").exists()
    assert not is_locked(tmp_path / "agent.lock")
    lock.release()  # a second release is a no-op


def test_is_locked_on_a_missing_lock_file_does_not_create_it(tmp_path: Path) -> None:
    assert not is_locked(tmp_path / "agent.lock")
    assert not (tmp_path / "agent.lock").exists()


def test_a_second_agent_gets_already_running_with_the_holders_pid(tmp_path: Path) -> None:
    with holder(tmp_path) as proc:
        assert is_locked(tmp_path / "agent.lock")
        with pytest.raises(AlreadyRunning, match=rf"already running .*\(pid {proc.pid}\)") as exc:
            make_lock(tmp_path).acquire()
        assert exc.value.pid == proc.pid
        assert read_pid(tmp_path / "agent.pid") == proc.pid  # the failed acquire left it alone
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.stdout is not None
        assert proc.stdout.readline() == "released\n"
        assert proc.wait(timeout=10) == 0
    assert not is_locked(tmp_path / "agent.lock")


def test_the_kernel_drops_the_lock_of_a_killed_holder(tmp_path: Path) -> None:
    with holder(tmp_path) as proc:
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        # The stale pid file stays behind but blocks nobody.
        assert read_pid(tmp_path / "agent.pid") == proc.pid
        assert not is_locked(tmp_path / "agent.lock")
        lock = make_lock(tmp_path)
        lock.acquire()
        try:
            assert read_pid(tmp_path / "agent.pid") == os.getpid()
        finally:
            lock.release()


def test_already_running_without_a_readable_pid(tmp_path: Path) -> None:
    first = make_lock(tmp_path)
    first.acquire()
    try:
        (tmp_path / "agent.pid").write_text("garbage")
        with pytest.raises(AlreadyRunning) as exc:
            make_lock(tmp_path).acquire()
        assert exc.value.pid is None
        assert str(exc.value) == "an agent is already running for this state directory"
    finally:
        first.release()


def test_read_pid_of_missing_or_bad_files(tmp_path: Path) -> None:
    assert read_pid(tmp_path / "none") is None
    (tmp_path / "bad").write_text("12x\n")
    assert read_pid(tmp_path / "bad") is None
    (tmp_path / "ok").write_text(" 42\n")
    assert read_pid(tmp_path / "ok") == 42


def test_write_atomic_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "agent.pid"
    write_atomic(target, "1\n")
    write_atomic(target, "2\n")
    assert target.read_text() == "2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.pid"]
