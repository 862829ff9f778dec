"""Per-revision counters and a fixed-bucket latency histogram.

Invariant: recording a request is one `bisect` and one integer increment (plus the
latency sum of its status class); everything costly (sums, percentiles, dict building)
happens only when a snapshot is read, or when the agent's metrics are scraped (which
read `cells` and `sums` as they are: `agent.ops.collector`).

Snapshot shape (all times in seconds, JSON-serialisable)::

    {
      "revisions": {
        "3": {
          "requests": 120,          # exchanges whose response was fully sent (incl. 502/504)
          "aborted": 1,             # exchanges that ended without a complete response
          "status": {"1xx": 0, "2xx": 118, "3xx": 0, "4xx": 0, "5xx": 2},
          "proxy_errors": {"502": 1, "503": 0, "504": 1},
          "inflight": 4,           # HTTP exchanges in flight (open tunnels are not)
          "latency": {"count": 120, "sum": 1.9, "p50": 0.011, "p90": 0.02,
                      "p95": 0.03, "p99": 0.05,
                      "buckets": [[0.00025, 0], [0.000297, 3], ...]},  # cumulative, le
        }
      },
      "unrouted": 0,                # 503s answered before any revision was chosen
      "rejected": 0,                # malformed requests answered 400/408, never forwarded
      "endpoints": {"r3-1": {"revision": 3, "routable": true, "inflight": 0,
                             "tunnels": 2, "idle_connections": 1}},
    }

Latency runs from the request head being received to the response being fully written;
for an upgrade (101), to the 101 being relayed: the tunnel after it is not a request.
`tunnels` counts the upgraded connections (WebSockets) open to the endpoint.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from changeover.histogram import BOUNDS, PERCENTILES, STATUS_CLASSES, Histogram

_WIDTH = len(BOUNDS) + 1  # latency buckets per status class, the overflow one included
# status // 100 -> offset of its status class's row in RevisionStats.cells (1xx..5xx, clamped)
_ROW = tuple(_WIDTH * index for index in (0, 0, 1, 2, 3, 4, 4, 4, 4, 4))


class RevisionStats:
    """Counters for one revision; mutated directly by the data plane.

    One request is one increment of one cell (status class x latency bucket) plus its
    latency added to its status class's sum (`sums[row]`, the row's first slot: a list
    store where one attribute store was, so per-class histograms cost the request
    nothing more): request counts, status classes and the histogram are sums of cells,
    computed only when read.
    """

    __slots__ = ("aborted", "cells", "errors", "inflight", "sums")

    def __init__(self) -> None:
        self.aborted = 0
        self.inflight = 0
        self.cells = [0] * (len(STATUS_CLASSES) * _WIDTH)
        self.errors = {"502": 0, "503": 0, "504": 0}
        self.sums = [0.0] * (len(STATUS_CLASSES) * _WIDTH)  # used at each row's offset

    def completed(self, status: int, elapsed: float) -> None:
        row = _ROW[status // 100] if status < 1000 else _ROW[-1]
        self.cells[row + bisect_left(BOUNDS, elapsed)] += 1
        self.sums[row] += elapsed

    @property
    def total(self) -> float:
        """Latency of every completed request, summed (seconds)."""
        return sum(self.sums)

    def classes(self) -> list[tuple[str, list[int], float]]:
        """Per status class: its name, its latency counts per bucket (the overflow last),
        and its latency sum; read where the cells are, copied (the proxy keeps counting)."""
        cells, sums = self.cells, self.sums
        return [
            (name, cells[row : row + _WIDTH], sums[row])
            for name, row in zip(STATUS_CLASSES, range(0, len(cells), _WIDTH), strict=True)
        ]

    @property
    def requests(self) -> int:
        return sum(self.cells)

    @property
    def status(self) -> list[int]:
        cells = self.cells
        return [sum(cells[row : row + _WIDTH]) for row in range(0, len(cells), _WIDTH)]

    @property
    def latency(self) -> Histogram:
        hist = Histogram()
        cells = self.cells
        hist.counts = [sum(cells[i::_WIDTH]) for i in range(_WIDTH)]
        hist.count = sum(hist.counts)
        hist.total = self.total
        return hist

    def snapshot(self) -> dict[str, Any]:
        hist = self.latency
        latency: dict[str, Any] = {"count": hist.count, "sum": hist.total}
        for name, q in PERCENTILES:
            latency[name] = hist.percentile(q)
        latency["buckets"] = hist.cumulative()
        return {
            "requests": hist.count,
            "aborted": self.aborted,
            "status": dict(zip(STATUS_CLASSES, self.status, strict=True)),
            "proxy_errors": dict(self.errors),
            "inflight": self.inflight,
            "latency": latency,
        }


class Metrics:
    """All revisions' stats plus the counters that belong to no revision."""

    __slots__ = ("rejected", "revisions", "unrouted")

    def __init__(self) -> None:
        self.revisions: dict[int, RevisionStats] = {}
        self.unrouted = 0
        self.rejected = 0

    def revision(self, revision: int) -> RevisionStats:
        stats = self.revisions.get(revision)
        if stats is None:
            stats = self.revisions[revision] = RevisionStats()
        return stats

    def snapshot(self) -> dict[str, Any]:
        return {
            "revisions": {str(rev): s.snapshot() for rev, s in sorted(self.revisions.items())},
            "unrouted": self.unrouted,
            "rejected": self.rejected,
        }
