"""Latency histogram math on fixed log-spaced buckets, shared by the proxy and analysis.

Invariant: every histogram in changeover has the same bounds (`BOUNDS`), so a snapshot
taken by the proxy and a window computed by analysis agree bucket for bucket, and a
percentile is a pure function of the bucket counts. A leaf module: the standard library
only, so analysis reads proxy snapshots without importing the proxy.
"""

from __future__ import annotations

from bisect import bisect_left

# Log-spaced upper bounds, 4 per doubling, 0.25 ms .. 60 s (about 19% apart).
BOUNDS: tuple[float, ...] = tuple(
    [round(0.00025 * 2 ** (i / 4), 7) for i in range(72) if 0.00025 * 2 ** (i / 4) < 60.0] + [60.0]
)
PERCENTILES = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99))
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


class Histogram:
    """Counts per bucket; the last slot counts values above the top bound."""

    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(BOUNDS, value)] += 1
        self.count += 1
        self.total += value

    def percentile(self, q: float) -> float:
        """Value below which a fraction `q` of observations fall, interpolated in-bucket."""
        return percentile(self.counts, q)

    def cumulative(self) -> list[list[float]]:
        out: list[list[float]] = []
        running = 0
        for bound, n in zip(BOUNDS, self.counts, strict=False):
            running += n
            out.append([bound, running])
        return out


def percentile(counts: list[int], q: float) -> float:
    """Linear interpolation inside the bucket holding rank q*N (0.0 when empty)."""
    total = sum(counts)
    if total == 0:
        return 0.0
    rank = q * total
    seen = 0
    for index, n in enumerate(counts):
        if n and seen + n >= rank:
            if index >= len(BOUNDS):
                return BOUNDS[-1]  # overflow bucket has no upper edge to interpolate to
            lower = BOUNDS[index - 1] if index else 0.0
            return lower + (BOUNDS[index] - lower) * max(rank - seen, 0.0) / n
        seen += n
    return BOUNDS[-1]
