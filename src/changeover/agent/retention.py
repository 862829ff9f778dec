"""What to rotate and delete in the replica logs folder: a pure decision.

Invariant: `decide` only names files from its listing; it never deletes a running
replica's current log (it rotates it once it exceeds `max_size`), leaves at most `keep`
rotated files per replica, and deletes a stopped replica's files only all together, once
the newest of them is older than `retain_stopped`. Names that are not replica logs
(`<id>.log`, `<id>.log.<n>`) are never touched. The proxy's access log (`access.log`,
named like no replica) is one writer more: while the proxy writes it, the caller counts
ACCESS as running, so it is rotated and kept like a running replica's log; once the log
is turned off, its files go like a stopped replica's.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

# replica ids are "r3-1"; no dots, so "<id>.log.<n>" splits one way only
_NAME = re.compile(r"(?P<id>[A-Za-z0-9][A-Za-z0-9_-]*)\.log(?:\.(?P<n>[1-9][0-9]{0,5}))?")
STOPPED = "replica stopped longer ago than logs.retain_stopped"
ACCESS = "access"  # the access log's stem: replica ids are r<revision>-<n>
BEYOND_KEEP = "more rotated files than logs.keep"


@dataclass(frozen=True)
class LogFile:
    """One regular file of the logs folder, as listed."""

    name: str
    size: int
    mtime: float  # wall-clock seconds


@dataclass(frozen=True)
class Limits:
    max_size: int  # bytes of a current log before it is rotated
    keep: int  # rotated files kept per replica
    retain_stopped: float  # seconds a stopped replica's logs are kept after their last write


@dataclass(frozen=True)
class Rotate:
    """Copy `<replica>.log` to `.1` (shifting older ones up to `.keep`), then truncate it."""

    replica: str

    def __repr__(self) -> str:
        return f"ROTATE {self.replica}"


@dataclass(frozen=True)
class Delete:
    """Remove the file `name` of the logs folder; `why` is for the agent's log."""

    name: str
    why: str = ""

    def __repr__(self) -> str:
        return f"DELETE {self.name}"


Action = Rotate | Delete


def parse_name(name: str) -> tuple[str, int] | None:
    """(replica id, index) of a log file name: index 0 is the current log; None otherwise."""
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    return m.group("id"), int(m.group("n") or 0)


def decide(
    listing: Iterable[LogFile], running: Collection[str], limits: Limits, now: float
) -> list[Action]:
    """Deletions first, then rotations; each replica's files are considered together."""
    groups: dict[str, dict[int, LogFile]] = defaultdict(dict)
    for entry in listing:
        parsed = parse_name(entry.name)
        if parsed is not None:
            groups[parsed[0]][parsed[1]] = entry
    deletes: list[Action] = []
    rotates: list[Action] = []
    for replica, files in sorted(groups.items()):
        indices = sorted(files, reverse=True)  # oldest rotated first
        if replica not in running and _expired(files.values(), limits, now):
            deletes += [Delete(files[n].name, STOPPED) for n in indices]
            continue
        deletes += [Delete(files[n].name, BEYOND_KEEP) for n in indices if n > limits.keep]
        current = files.get(0)
        # only a running replica still writes; a stopped one's size is final
        if replica in running and current is not None and current.size > limits.max_size:
            rotates.append(Rotate(replica))
    return deletes + rotates


def _expired(files: Iterable[LogFile], limits: Limits, now: float) -> bool:
    return now - max(f.mtime for f in files) > limits.retain_stopped
