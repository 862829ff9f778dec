"""Process checks shared by unit tests that start real commands."""

from __future__ import annotations

import time

import psutil


def gone(pid: int) -> bool:
    """The process is dead (a zombie waiting to be reaped counts as dead)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, deadline: float = 10.0) -> bool:
    """Whether `pid` dies within `deadline` seconds (only a failing test waits that long)."""
    end = time.monotonic() + deadline
    while not gone(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True
