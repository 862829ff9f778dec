"""Checklist commands: run by the agent in the unpacked release folder, with a timeout.

Invariant: a command item passes only if it exits 0 within its timeout; when it returns,
fails or times out, its whole process group is gone (`changeover.shell`: a timeout is a
cancel, which kills the group). What is kept of its output is its exit and its last
line of output, cut short: enough to say why it failed, never a page of logs.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

from changeover import shell
from changeover.units import format_duration

DETAIL_MAX = 300  # characters of the last output line kept


async def run_item(
    command: str, folder: Path, limit: float, env: Mapping[str, str]
) -> tuple[bool, str]:
    """(passed, what happened) of `command` run by /bin/sh in `folder`."""
    try:
        async with asyncio.timeout(limit):
            code, out, err = await shell.run(
                ("/bin/sh", "-c", command), cwd=folder, env={**os.environ, **env}
            )
    except TimeoutError:
        return False, f"timed out after {format_duration(limit)} (its processes were killed)"
    except OSError as exc:
        return False, f"could not start in {folder}: {exc.strerror or exc}"
    said = _last_line(err) or _last_line(out)
    tail = f": {said}" if said else ""
    if code == 0:
        return True, f"exit 0{tail}"
    if code < 0:
        return False, f"killed by signal {-code}{tail}"
    return False, f"exit {code}{tail}"


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:DETAIL_MAX] if lines else ""
