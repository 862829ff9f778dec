"""`changeover run --reload`: ask a running instance for an upgrade and wait for its answer.

Invariant: the answer reported is the outcome numbered one past the reload count the
instance had published just before our SIGHUP; reloaders hold an flock on the pid file
meanwhile, so two of them never wait for the same number.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from changeover.hotrestart.files import alive, read_pid, read_status, status_path

POLL = 0.05


class ReloadError(Exception):
    """No running instance could be asked (bad pid file, stale status, dead process)."""


@dataclass(frozen=True)
class Answer:
    upgraded: bool
    message: str


def request_reload(pid_file: Path, sleep: Callable[[float], None] = time.sleep) -> Answer:
    """Send SIGHUP to the instance `pid_file` names and wait for the outcome."""
    try:
        pid = read_pid(pid_file)
    except ValueError as exc:
        raise ReloadError(str(exc)) from None
    with open(pid_file, "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        number = _reload_count(pid_file, pid) + 1
        os.kill(pid, signal.SIGHUP)
        while (answer := _answer(pid_file, pid, number)) is None:
            sleep(POLL)
    return answer


def _reload_count(pid_file: Path, pid: int) -> int:
    status = read_status(pid_file)
    if status is None or status.get("pid") != pid:
        raise ReloadError(
            f"{status_path(pid_file)}: no status of process {pid}; is `changeover run"
            f" --pid-file {pid_file}` running?"
        )
    if not alive(pid):
        raise ReloadError(f"{pid_file}: process {pid} is not running")
    return int(status.get("reloads", 0))


def _answer(pid_file: Path, pid: int, number: int) -> Answer | None:
    status = read_status(pid_file)
    outcomes: list[Any] = status.get("outcomes", []) if status else []
    for entry in outcomes:
        if isinstance(entry, dict) and entry.get("number") == number:
            return Answer(bool(entry.get("upgraded")), str(entry.get("message", "")))
    if status is None or status.get("pid") != pid or not alive(pid):
        return Answer(False, f"process {pid} exited before answering the reload")
    return None
