"""Fakes for tests of analysis and of its callers: scripted proxy traffic and fake time.

Invariant: `FakeProxy.sample()` returns what the real proxy's `metrics()` would after
the same requests (it drives a real `proxy.metrics.Metrics`), so windows computed from
fake samples are the windows production computes; `FakeTime` only moves when slept on.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from changeover.proxy.metrics import Metrics


@dataclass(frozen=True)
class Traffic:
    """Requests one revision serves in one round: `ok` 200s and `errors` 5xx."""

    ok: int = 0
    errors: int = 0
    latency: float = 0.01  # seconds, for every request of this batch
    error_status: int = 500


Script = Mapping[int, Traffic]  # revision -> traffic, for one round


class FakeProxy:
    """Proxy counters driven by hand (`serve`) or by a script of one step per round.

    Step k of the script is served right after sample k, so it lands in the window of
    round k+1 (sample 0 is the runner's starting point). `on_sample` runs before each
    snapshot, for traffic that depends on the test's own state.
    """

    def __init__(
        self,
        script: Iterable[Script] = (),
        on_sample: Callable[[FakeProxy], None] | None = None,
    ) -> None:
        self.metrics = Metrics()
        self.samples = 0
        self._script = deque(script)
        self._on_sample = on_sample

    def serve(self, revision: int, traffic: Traffic) -> None:
        stats = self.metrics.revision(revision)
        for _ in range(traffic.ok):
            stats.completed(200, traffic.latency)
        for _ in range(traffic.errors):
            stats.completed(traffic.error_status, traffic.latency)

    def sample(self) -> dict[str, Any]:
        """The snapshot `proxy.metrics()` would return now; then the next step is served."""
        if self._on_sample is not None:
            self._on_sample(self)
        snapshot = self.metrics.snapshot()
        self.samples += 1
        if self._script:
            for revision, traffic in self._script.popleft().items():
                self.serve(revision, traffic)
        return snapshot


class FakeTime:
    """A monotonic clock and a wall clock that advance only when `sleep` is awaited."""

    def __init__(self, start: float = 1000.0, wall_start: float = 1_700_000_000.0) -> None:
        self.now = start
        self._offset = wall_start - start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self._offset

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += max(delay, 0.0)
        await asyncio.sleep(0)  # still yield, as a real sleep does
