"""One agent per state directory, enforced with an flock held for the agent's lifetime.

Invariant: the lock is released by the kernel when the agent dies, even by SIGKILL,
so a stale pid file never blocks the next `up`; on a handover the new agent inherits the
same open file, so the lock is never free between the two agents.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class AlreadyRunning(Exception):
    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"an agent is already running for this state directory{who}")


class AgentLock:
    def __init__(self, lock_path: Path, pid_path: Path) -> None:
        self._lock_path = lock_path
        self._pid_path = pid_path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(read_pid(self._pid_path)) from None
        self._fd = fd
        write_atomic(self._pid_path, f"{os.getpid()}\n")

    def adopt(self, fd: int) -> None:
        """Hold the lock through an fd inherited from the previous agent (same open file,
        so the same flock: no moment without an owner). The pid file is written later."""
        os.set_inheritable(fd, False)
        self._fd = fd

    def fileno(self) -> int:
        if self._fd is None:
            raise RuntimeError("the agent lock is not held")
        return self._fd

    def write_pid(self) -> None:
        write_atomic(self._pid_path, f"{os.getpid()}\n")

    def hand_over(self) -> None:
        """Drop our fd only: the next agent holds the same lock and owns the pid file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def release(self) -> None:
        if self._fd is None:
            return
        self._pid_path.unlink(missing_ok=True)
        os.close(self._fd)  # closing drops the flock
        self._fd = None


def is_locked(lock_path: Path) -> bool:
    """True while some agent holds the lock (probe without keeping it)."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextlib.contextmanager
def held_if_free(lock_path: Path) -> Iterator[bool]:
    """Hold the agent lock for the block if no agent holds it (True), else yield False.

    While it is held here no agent can start (`up` would find it taken), so the files a
    dead agent left (its control socket, its pid file) can be removed without racing a
    new agent's. Creates nothing: FileNotFoundError without a lock file (no agent ever
    ran there, so nothing is left to remove)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing drops the flock


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def write_atomic(path: Path, text: str) -> None:
    """Temp file + rename, so readers never see a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
