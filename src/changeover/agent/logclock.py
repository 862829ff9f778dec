"""When each part of a replica's log was written, as far as the agent saw: for
`changeover logs --timestamps` and `--since`.

Replicas write their log files directly (no pipe through the agent, so output survives an
agent crash), so lines carry no time of their own. Once a second the agent notes each log
file's size; a line is then dated by the first note that saw the file reach its end.

Invariant: pure over the notes it is given (sizes and wall times, in order), bounded in
memory (older notes are thinned, never the newest), and honest: a line written before the
first note has no time (None), and a date is at most one note interval late.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable

MAX_NOTES = 4096  # per file; past it, every other older note is dropped (coarser, bounded)


class FileClock:
    """Notes (size, wall time) of one log file, sizes growing until it is rotated."""

    __slots__ = ("sizes", "times")

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.times: list[float] = []

    def note(self, size: int, now: float) -> None:
        if self.sizes and size < self.sizes[-1]:
            self.sizes, self.times = [], []  # copy-truncate: the file starts again at 0
        if self.sizes and size == self.sizes[-1]:
            return  # nothing new written since the last note
        self.sizes.append(size)
        self.times.append(now)
        if len(self.sizes) > MAX_NOTES:
            keep = len(self.sizes) // 2  # thin the older half, keep the newer intact
            self.sizes = self.sizes[:keep:2] + self.sizes[keep:]
            self.times = self.times[:keep:2] + self.times[keep:]

    def time_at(self, end: int) -> float | None:
        """When the bytes up to offset `end` had all been written: the first note that saw
        them (None: they were there at the first note, or came after the last one)."""
        index = bisect_left(self.sizes, end)
        if index == 0 or index == len(self.sizes):
            return None
        return self.times[index]

    def offset_since(self, when: float) -> int:
        """Where the bytes noted at or after `when` begin; what the first note found
        already written has no time, so it never counts as recent."""
        if not self.sizes:
            return 0
        index = bisect_left(self.times, when)
        return self.sizes[max(index - 1, 0)]


class LogClock:
    """A FileClock per replica, fed by the agent's one-second sampling."""

    def __init__(self) -> None:
        self.files: dict[str, FileClock] = {}

    def note(self, sizes: Iterable[tuple[str, int]], now: float) -> None:
        for name, size in sizes:
            self.files.setdefault(name, FileClock()).note(size, now)

    def forget(self, keep: Iterable[str]) -> None:
        kept = set(keep)
        for name in [n for n in self.files if n not in kept]:
            del self.files[name]

    def time_at(self, name: str, end: int) -> float | None:
        clock = self.files.get(name)
        return None if clock is None else clock.time_at(end)

    def offset_since(self, name: str, when: float) -> int | None:
        """None when the file was never noted: then nothing of it is known to be recent."""
        clock = self.files.get(name)
        return None if clock is None else clock.offset_since(when)


def format_stamp(when: float | None) -> str:
    """A line's time as `logs --timestamps` shows it: UTC to the second, or a dash of the
    same width when the agent did not see the line being written."""
    if when is None:
        return "-".ljust(20)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
