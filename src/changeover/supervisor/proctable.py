"""Reading the process table into `ProcView`s (the I/O half of the escape decisions).

Invariant: a view's create_time is computed exactly as psutil computes it (start time
since boot plus the boot time), so it compares with the create times recorded by spawn;
a process that vanishes while it is read is simply left out.
"""

from __future__ import annotations

import contextlib
import os

import psutil

from changeover.supervisor.descendants import MARKER, ProcView

_PROC = "/proc"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def scan() -> dict[int, ProcView]:
    """Every process now: /proc/<pid>/stat on Linux (one read each), psutil elsewhere."""
    if os.path.exists(f"{_PROC}/self/stat"):
        return scan_proc()
    return scan_psutil()


def scan_proc() -> dict[int, ProcView]:
    boot = psutil.boot_time()
    table = {}
    for name in os.listdir(_PROC):
        if name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                table[int(name)] = _parse_stat(_read(f"{_PROC}/{name}/stat"), boot)
    return table


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _parse_stat(data: bytes, boot: float) -> ProcView:
    # The command name in parentheses may hold spaces and ")": fields follow the last ")".
    fields = data[data.rfind(b")") + 2 :].split()
    state, ppid, pgid, starttime = fields[0], int(fields[1]), int(fields[2]), int(fields[19])
    return ProcView(ppid, pgid, starttime / _CLOCK_TICKS + boot, state == b"Z")


def scan_psutil() -> dict[int, ProcView]:
    table = {}
    for proc in psutil.process_iter(["ppid", "create_time", "status"]):
        with contextlib.suppress(psutil.Error, OSError):
            info = proc.info
            zombie = info["status"] == psutil.STATUS_ZOMBIE
            table[proc.pid] = ProcView(
                info["ppid"], os.getpgid(proc.pid), info["create_time"], zombie
            )
    return table


def with_markers(table: dict[int, ProcView], pids: list[int]) -> dict[int, ProcView]:
    """`table` with the marker of each of `pids` read from its environment."""
    for pid in pids:
        if pid in table:
            table[pid] = table[pid]._replace(marker=read_marker(pid))
    return table


def read_marker(pid: int) -> str | None:
    try:
        value: str | None = psutil.Process(pid).environ().get(MARKER)
    except (psutil.Error, OSError):
        return None
    return value


def create_time(pid: int) -> float | None:
    """The create_time of `pid` now (None if it is gone), for a last check before a signal."""
    try:
        created: float = psutil.Process(pid).create_time()
    except psutil.Error:
        return None
    return created
