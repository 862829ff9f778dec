"""Latency histogram with bounded memory.

Invariant: every recorded value lands in exactly one log-spaced bucket whose bounds are
within `PRECISION` (1 %) of each other, so a reported percentile is within 1 % of the
exact one (values outside [MIN, MAX] are clamped to the end buckets); `max` is exact.
"""

from __future__ import annotations

import math

PRECISION = 0.01
MIN_VALUE = 1e-6
MAX_VALUE = 1e4
_LOG_STEP = math.log1p(PRECISION)
_BUCKETS = int(math.log(MAX_VALUE / MIN_VALUE) / _LOG_STEP) + 2


class Histogram:
    """Counts of latencies (seconds) in log-spaced buckets."""

    __slots__ = ("count", "counts", "max")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.count = 0
        self.max = 0.0

    def record(self, value: float) -> None:
        """Add one latency in seconds."""
        self.counts[_bucket(value)] += 1
        self.count += 1
        if value > self.max:
            self.max = value

    def percentile(self, q: float) -> float | None:
        """Value at quantile q in [0, 1] (None when empty), never above the exact max."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return min(_upper_bound(index), self.max)
        return self.max  # unreachable: the counts sum to self.count


def _bucket(value: float) -> int:
    if value <= MIN_VALUE:
        return 0
    return min(_BUCKETS - 1, 1 + int(math.log(value / MIN_VALUE) / _LOG_STEP))


def _upper_bound(index: int) -> float:
    return MIN_VALUE * math.exp(index * _LOG_STEP)
