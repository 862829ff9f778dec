"""The clock and limits the pure retention tests share, and a log file of a given age."""

from __future__ import annotations

from changeover.agent.retention import Limits, LogFile

DAY = 86400.0
NOW = 1_000 * DAY
LIMITS = Limits(max_size=1000, keep=2, retain_stopped=7 * DAY)


def log(name: str, size: int = 10, age: float = 0.0) -> LogFile:
    """`name`, `size` bytes, last written `age` seconds before NOW."""
    return LogFile(name, size, NOW - age)
