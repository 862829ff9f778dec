"""Open-loop send schedule shared by all workers.

Invariant: request i (worker i % N, its (i // N)-th request) is due at t0 + i / rate and is
issued at most once, never before it is due, and only while the run is still going
(before the end time, under the request limit, and not stopped).
"""

from __future__ import annotations

import asyncio
import math

LATE_SLACK = 0.01
"""A request sent more than this many seconds after its due time counts as late."""


class Schedule:
    """Due times, end conditions and a sleep that `stop()` cuts short."""

    def __init__(self, rate: float, duration: float | None, requests: int | None) -> None:
        self.rate = rate
        self.requests = math.inf if requests is None else requests
        self.duration = math.inf if duration is None else duration
        self.t0 = 0.0
        self.end = math.inf
        self.stopped = False
        self._sleepers: set[asyncio.Future[None]] = set()

    def begin(self, t0: float) -> None:
        """Fix the start time of the schedule."""
        self.t0 = t0
        self.end = t0 + self.duration

    def due(self, i: int, now: float) -> float | None:
        """Due time of request i, or None when the run sends no request i."""
        if self.stopped or i >= self.requests or now >= self.end:
            return None
        due = self.t0 + i / self.rate
        return due if due < self.end else None

    async def sleep_until(self, when: float) -> bool:
        """Wait until `when`; False if the schedule was stopped meanwhile."""
        loop = asyncio.get_running_loop()
        if when > loop.time() and not self.stopped:
            waiter: asyncio.Future[None] = loop.create_future()
            handle = loop.call_at(when, _wake, waiter)
            self._sleepers.add(waiter)
            try:
                await waiter
            finally:
                self._sleepers.discard(waiter)
                handle.cancel()
        return not self.stopped

    def stop(self) -> None:
        """Issue no further request; wake every sleeping worker."""
        self.stopped = True
        for waiter in self._sleepers:
            _wake(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
