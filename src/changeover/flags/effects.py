"""The only outside facts evaluation needs: the time, random draws and the host name.

Invariant: evaluation reads the clock, randomness and the host name only through an
`Effects` object, so the same state, context and effects always give the same answer;
`SystemEffects` is the real world, `FixedEffects` the fake tests inject.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import cycle
from typing import Protocol


class Effects(Protocol):
    hostname: str

    def now(self) -> datetime:
        """The current time, timezone-aware, used when a context has no `currentTime`."""
        ...

    def randint(self, low: int, high: int) -> int:
        """A uniform draw in [low, high], for random stickiness."""
        ...


class SystemEffects:
    __slots__ = ("_rng", "hostname")

    def __init__(self, hostname: str | None = None) -> None:
        self._rng = random.Random()
        self.hostname = hostname if hostname is not None else socket.gethostname()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def randint(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)


class FixedEffects:
    """A fake: a fixed (or settable) clock, draws from a list, a given host name."""

    def __init__(
        self,
        now: datetime | Callable[[], datetime] = datetime(2024, 1, 1, tzinfo=UTC),
        draws: list[int] | None = None,
        hostname: str = "test-host",
    ) -> None:
        self._now = now
        self._draws: Iterator[int] | None = cycle(draws) if draws else None
        self.hostname = hostname

    def now(self) -> datetime:
        return self._now() if callable(self._now) else self._now

    def randint(self, low: int, high: int) -> int:
        if self._draws is None:
            return low
        return min(max(next(self._draws), low), high)
