"""The agent as a child subreaper, and the two syscalls the escape layer acts with.

Invariant: `reap` waits only for the pids it is given, one `waitpid(pid, WNOHANG)` each
(never `waitpid(-1)`), and `kill_verified` signals a pid only while it still has the
expected create_time; through a pidfd, checked after opening, when the kernel has one,
so the pid cannot be reused between the check and the signal.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable

from changeover.supervisor.descendants import same_time

log = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
PR_GET_CHILD_SUBREAPER = 37


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    fn: Callable[..., int] = libc.prctl
    return fn


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux); False, with a debug log, where that fails."""
    prctl = _prctl()
    if prctl is None:
        log.debug("not a child subreaper: prctl is Linux-only (%s)", sys.platform)
        return False
    if prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        log.debug("not a child subreaper: prctl failed: %s", os.strerror(err))
        return False
    return True


def is_subreaper() -> bool:
    prctl = _prctl()
    flag = ctypes.c_int(0)
    if prctl is None or prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) != 0:
        return False
    return flag.value != 0


def reap(pids: Iterable[int]) -> list[int]:
    """Reap each given pid if it has exited; returns those reaped."""
    done = []
    for pid in pids:
        # ChildProcessError: not our child (any more); nothing to do.
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                done.append(pid)
    return done


def kill_verified(pid: int, created: float, now_created: Callable[[int], float | None]) -> bool:
    """SIGKILL `pid` if it is still the process created at `created`; True if signalled."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    except (AttributeError, OSError):
        pidfd = None  # no pidfd here: a check-then-kill race remains, as with any pid
    try:
        current = now_created(pid)
        if current is None or not same_time(current, created):
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pidfd is None:
                os.kill(pid, signal.SIGKILL)
            else:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            return True
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)
