"""Killing replicas left behind by a previous agent that died without stopping them.

Invariant: a process is signalled only if its pid still exists with the recorded
psutil create_time, so a pid the kernel has since reused is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterable
from typing import NamedTuple

import psutil

POLL_INTERVAL = 0.05
KILL_WAIT = 5.0
# psutil derives create_time from the boot time, which can shift by up to a second.
CREATE_TIME_TOLERANCE = 1.0


class OrphanRecord(NamedTuple):
    replica_id: str
    pid: int
    pgid: int
    create_time: float


async def kill_orphans(records: Iterable[tuple[str, int, int, float]], grace: float) -> list[str]:
    """SIGTERM each recorded replica still running, SIGKILL after `grace` seconds.

    All records are handled in parallel; returns the ids of the replicas found running.
    """
    found = [rec for rec in map(OrphanRecord._make, records) if _running(rec)]
    await asyncio.gather(*(_kill(rec, grace) for rec in found))
    return [rec.replica_id for rec in found]


def still_running(records: Iterable[tuple[str, int, int, float]]) -> list[str]:
    """The ids of the recorded replicas whose own process is still alive (no signal)."""
    return [rec.replica_id for rec in map(OrphanRecord._make, records) if _running(rec)]


def _running(rec: OrphanRecord) -> bool:
    """The recorded process itself (not a pid reuse) is alive and not a zombie."""
    try:
        proc = psutil.Process(rec.pid)
        created: float = proc.create_time()
        status: str = proc.status()
    except psutil.Error:
        return False
    return (
        abs(created - rec.create_time) <= CREATE_TIME_TOLERANCE and status != psutil.STATUS_ZOMBIE
    )


async def _kill(rec: OrphanRecord, grace: float) -> None:
    _signal(rec, signal.SIGTERM)
    if not await _gone(rec, grace):
        _signal(rec, signal.SIGKILL)
        await _gone(rec, KILL_WAIT)
    # Whatever else is left in its group dies with it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(rec.pgid, signal.SIGKILL)


def _signal(rec: OrphanRecord, sig: int) -> None:
    if not _running(rec):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(rec.pid) == rec.pgid:
            os.killpg(rec.pgid, sig)
        else:
            os.kill(rec.pid, sig)  # it left its group: signal only what we can identify


async def _gone(rec: OrphanRecord, seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while _running(rec):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL)
    return True
