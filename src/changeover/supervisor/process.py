"""A spawned child process as the event loop sees it.

Invariant: the pid is reaped exactly once, by this object, and never signalled after it
was reaped (a reaped pid may already belong to someone else). The process group, which
outlives the leader while grandchildren run, may be signalled at any time. Until it is
reaped, the pid is in `owned_pids()`, so the agent's orphan reaper never takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from signal import SIGKILL

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.05
# Exit status stand-in when something else in the agent reaped our child first.
UNKNOWN_STATUS = 255
# Exit status of an adopted replica: not our child, so its exit code cannot be read.
ADOPTED_EXIT = 1 << 16
_OWNED: set[int] = set()  # pids of ChildProcess objects not yet reaped


def owned_pids() -> frozenset[int]:
    """Children this module waits for: nobody else may reap them."""
    return frozenset(_OWNED)


class ChildProcess:
    """A child that leads its own process group (pgid == pid)."""

    def __init__(self, pid: int, create_time: float | None = None) -> None:
        self.pid = pid
        self.pgid = pid
        self.create_time = create_time
        self.returncode: int | None = None
        self._loop = asyncio.get_running_loop()
        self._done: asyncio.Future[int] = self._loop.create_future()
        self._pidfd: int | None = None
        self._poller: asyncio.Handle | None = None
        _OWNED.add(pid)
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            # No pidfd (old kernel or platform): fall back to polling waitpid.
            self._poller = self._loop.call_soon(self._poll)
        else:
            self._loop.add_reader(self._pidfd, self._reap)

    async def wait(self) -> int:
        """The exit status: exit code, or minus the signal number that killed it."""
        return await asyncio.shield(self._done)

    def signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill_group(self, sig: int = SIGKILL) -> None:
        # PermissionError: the group is gone and its id was taken by another user's process.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def _poll(self) -> None:
        if not self._reap():
            self._poller = self._loop.call_later(POLL_INTERVAL, self._poll)

    def _reap(self) -> bool:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            log.warning("pid %d was reaped by someone else; exit status unknown", self.pid)
            self._finish(UNKNOWN_STATUS)
            return True
        if pid == 0:
            return False
        self._finish(os.waitstatus_to_exitcode(status))
        return True

    def _finish(self, returncode: int) -> None:
        self.returncode = returncode
        _OWNED.discard(self.pid)
        self.close()
        if not self._done.done():
            self._done.set_result(returncode)

    def close(self) -> None:
        """Stop watching (the loop is going away); the process itself is left alone."""
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None


def describe_exit(returncode: int) -> str:
    """One line for `last_error`: "exited with code 3" or "killed by SIGKILL"."""
    if returncode == ADOPTED_EXIT:
        return "exited (adopted; code unknown)"
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"
