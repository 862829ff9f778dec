"""What a running instance publishes: its pid file and its status document.

Invariant: the pid file is claimed only if it names no live process, written once, and
removed only by its owner; the status document always holds the last `KEEP_OUTCOMES`
reload outcomes with their numbers, so a `--reload` can find the answer to its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from changeover.hotrestart.actions import Outcome
from changeover.hotrestart.core import HotRestart
from changeover.hotrestart.files import (
    KEEP_OUTCOMES,
    alive,
    read_pid,
    remove_if_ours,
    status_path,
    write_atomic,
)
from changeover.supervisor.spawn import Child


class PidFileBusy(ValueError):
    """The pid file names a process that is still running."""


class StatusWriter:
    def __init__(self, pid_file: Path | None, listen: list[str]) -> None:
        self.pid_file = pid_file
        self._listen = listen
        self._outcomes: list[dict[str, Any]] = []
        self._last = ""
        self._pid = os.getpid()

    def start(self) -> None:
        if self.pid_file is None:
            return
        claim_check(self.pid_file)
        write_atomic(self.pid_file, f"{self._pid}\n")

    def outcome(self, outcome: Outcome) -> None:
        entry = {"number": outcome.number, "upgraded": outcome.upgraded, "message": outcome.message}
        self._outcomes = [*self._outcomes, entry][-KEEP_OUTCOMES:]

    def write(self, core: HotRestart, children: Mapping[int, Child]) -> None:
        if self.pid_file is None:
            return
        doc = {
            "pid": self._pid,
            "phase": core.phase.value,
            "listen": self._listen,
            "serving": _gen(core.serving, children),
            "candidate": _gen(core.candidate, children),
            "reloads": core.reloads,
            "outcomes": self._outcomes,
        }
        text = json.dumps(doc, indent=2) + "\n"
        if text != self._last:
            write_atomic(status_path(self.pid_file), text)
            self._last = text

    def stop(self) -> None:
        if self.pid_file is not None and self._last:
            status_path(self.pid_file).unlink(missing_ok=True)
        if self.pid_file is not None:
            remove_if_ours(self.pid_file, self._pid)


def claim_check(pid_file: Path) -> None:
    """Raise PidFileBusy if `pid_file` names a live process other than us."""
    try:
        pid = read_pid(pid_file)
    except ValueError:
        return  # absent or garbage: ours to (over)write
    if pid != os.getpid() and alive(pid):
        raise PidFileBusy(f"{pid_file}: process {pid} is running; is it another `changeover run`?")


def _gen(gen: int | None, children: Mapping[int, Child]) -> dict[str, int] | None:
    if gen is None:
        return None
    child = children.get(gen)
    return {"generation": gen, "pid": child.pid if child else 0}
