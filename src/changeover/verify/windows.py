"""Latency and failure counts in the windows before, during and after the rollout.

Invariant: every observation (an ok request's latency or a failure) lands in exactly one
window, chosen by when it finished relative to the rollout's start and end, so the
windows' counts add up to the observations given; percentiles are exact (nearest rank).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Window(StrEnum):
    """When a request finished, relative to the rollout."""

    BEFORE = "before"
    DURING = "during"
    AFTER = "after"

    def __repr__(self) -> str:
        return f"Window.{self.name}"


@dataclass(frozen=True, slots=True)
class Bounds:
    """The rollout's start and end in seconds since the load started."""

    start: float
    end: float

    def window(self, t: float) -> Window:
        """The window of an observation finished at `t` (bounds belong to DURING)."""
        if t < self.start:
            return Window.BEFORE
        return Window.DURING if t <= self.end else Window.AFTER


class Samples:
    """Finish time and latency (seconds) of every ok request, in compact arrays."""

    __slots__ = ("latency", "t")

    def __init__(self) -> None:
        self.t = array("d")
        self.latency = array("d")

    def add(self, t: float, latency: float) -> None:
        self.t.append(t)
        self.latency.append(latency)

    def __len__(self) -> int:
        return len(self.t)


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Counts and ok-latency percentiles (seconds; None without ok requests) of a window."""

    window: Window
    ok: int
    failed: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None

    @property
    def requests(self) -> int:
        return self.ok + self.failed


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values, q in [0, 1]; None when empty."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within [0, 1], got {q!r}")
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def window_stats(
    samples: Samples, failure_times: Iterable[float], bounds: Bounds
) -> list[WindowStats]:
    """One `WindowStats` per window, in the order before, during, after."""
    latencies: dict[Window, list[float]] = {w: [] for w in Window}
    failed = dict.fromkeys(Window, 0)
    for t, latency in zip(samples.t, samples.latency, strict=True):
        latencies[bounds.window(t)].append(latency)
    for t in failure_times:
        failed[bounds.window(t)] += 1
    return [_stats(w, sorted(latencies[w]), failed[w]) for w in Window]


def _stats(window: Window, ordered: list[float], failed: int) -> WindowStats:
    return WindowStats(
        window=window,
        ok=len(ordered),
        failed=failed,
        p50=percentile(ordered, 0.5),
        p90=percentile(ordered, 0.9),
        p99=percentile(ordered, 0.99),
        max=ordered[-1] if ordered else None,
    )
