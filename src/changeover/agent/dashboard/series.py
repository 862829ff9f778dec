"""The charts' history: per revision, one point a second for the last 15 minutes.

Invariant: a point is computed from two successive proxy snapshots the agent already
takes once a second for `status`'s live view (`agent.traffic.LiveTraffic`), never from
the request path, so keeping the history costs the proxy nothing per request. Each point
holds only differences of cumulative counters (`analysis.window.Window`): a rate, a
success ratio and latency percentiles of that second's requests, None where the second
had no requests (no data is not zero). Memory is bounded: at most `KEEP` points per
revision, and a revision whose points are all older than `KEEP` seconds is forgotten.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from changeover.analysis.window import Window

KEEP = 900  # points per revision: 15 minutes at one a second
QUANTILES = (0.5, 0.95, 0.99)
Point = tuple[float, float | None, float | None, float | None, float | None, float | None]
FIELDS = ("t", "rate", "success", "p50", "p95", "p99")  # a point's values, in order


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class Trend:
    """Fed `add(wall time, snapshot)` once a second; answers points newer than a time."""

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._last: tuple[float, Mapping[str, Any]] | None = None
        self._points: dict[int, deque[Point]] = {}

    def add(self, now: float, snapshot: Mapping[str, Any]) -> None:
        last, self._last = self._last, (now, snapshot)
        if last is None or now <= last[0]:
            return  # the first sample (nothing to diff against) or a clock step back
        before, elapsed = last[1], now - last[0]
        for raw in snapshot.get("revisions", {}):
            revision = int(raw)
            w = Window.between(revision, before, snapshot, elapsed)
            points = self._points.get(revision)
            if points is None:
                if not w.requests:
                    continue  # a revision appears with its first requests
                points = self._points[revision] = deque(maxlen=self._keep)
            points.append(self._point(now, w))
        for revision in [r for r, p in self._points.items() if p[-1][0] < now - self._keep]:
            del self._points[revision]

    @staticmethod
    def _point(now: float, w: Window) -> Point:
        p50, p95, p99 = (_round(w.latency(q), 6) for q in QUANTILES)
        return (
            round(now, 3),
            _round(w.request_rate, 3),
            _round(w.success_rate, 5),
            p50,
            p95,
            p99,
        )

    def revisions(self) -> list[int]:
        return sorted(self._points)

    def doc(self, after: float = 0.0) -> dict[str, Any]:
        """`{"fields": [...], "revisions": {"3": [[t, rate, ...], ...]}}`, points after `after`."""
        return {
            "fields": list(FIELDS),
            "keep": self._keep,
            "revisions": {
                str(rev): [list(p) for p in points if p[0] > after]
                for rev, points in sorted(self._points.items())
            },
        }
