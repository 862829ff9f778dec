"""The pid file and, beside it, the status file a `--reload` reads its answer from.

Invariant: both files are only ever replaced whole (write to a temporary file in the same
folder, then rename), so a reader sees the previous version or the next, never a torn one;
the status file names the pid it belongs to, so a stale one is recognisable.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

KEEP_OUTCOMES = 32


def status_path(pid_file: Path) -> Path:
    return pid_file.with_name(pid_file.name + ".status.json")


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_pid(pid_file: Path) -> int:
    """The pid in `pid_file`; ValueError with a message for the user otherwise."""
    try:
        text = pid_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ValueError(f"{pid_file}: no such pid file (is `changeover run` running?)") from None
    except OSError as exc:
        raise ValueError(f"{pid_file}: cannot read: {exc.strerror}") from None
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"{pid_file}: expected a process id, found {text[:40]!r}")
    return int(text)


def read_status(pid_file: Path) -> dict[str, Any] | None:
    """The status document, or None if absent or unreadable."""
    try:
        doc = json.loads(status_path(pid_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, though not ours to signal
    return True


def remove_if_ours(path: Path, pid: int) -> None:
    """Remove the pid file only if it still names `pid` (a newer instance may own it)."""
    with contextlib.suppress(OSError, ValueError):
        if read_pid(path) == pid:
            path.unlink()
