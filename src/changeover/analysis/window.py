"""The traffic of one revision between two proxy snapshots (see `proxy.metrics`).

Invariant: a `Window` holds only differences of the proxy's cumulative counters, so every
count in it is >= 0; when a counter went down (the proxy restarted and counted from zero)
the later snapshot is taken as the whole window, as Prometheus' `rate` does. Success and
error rates and percentiles are None when the window has no requests: no data is not zero.
A sample may add `"restarts": {"3": 5}`, the agent's count of each revision's replica
restarts (the supervisor's, summed over replicas gone since); a window diffs it alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from changeover.histogram import BOUNDS, percentile

_ZERO = (0, 0, 0, (0,) * (len(BOUNDS) + 1))
Counters = tuple[int, int, int, tuple[int, ...]]  # requests, 5xx, aborted, latency per bucket


class SnapshotError(ValueError):
    """A proxy snapshot does not have the shape `proxy.metrics` documents."""


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SnapshotError(f"proxy snapshot: {where}: expected an integer >= 0, got {value!r}")
    return value


def _latency(raw: Any, where: str) -> tuple[int, ...]:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("buckets"), list):
        raise SnapshotError(f"proxy snapshot: {where}: expected count and buckets")
    buckets: list[Any] = raw["buckets"]
    bounds = [b[0] if isinstance(b, list | tuple) and len(b) == 2 else None for b in buckets]
    if tuple(bounds) != BOUNDS:
        raise SnapshotError(
            f"proxy snapshot: {where}.buckets: expected [upper_bound, count] pairs "
            f"over the {len(BOUNDS)} bounds of proxy.metrics.BOUNDS"
        )
    cumulative = [_int(b[1], f"{where}.buckets[{i}]") for i, b in enumerate(buckets)]
    cumulative.append(_int(raw.get("count"), f"{where}.count"))  # the overflow bucket's edge
    counts = [b - a for a, b in zip([0, *cumulative], cumulative, strict=False)]
    if min(counts) < 0:
        raise SnapshotError(f"proxy snapshot: {where}.buckets: cumulative counts go down")
    return tuple(counts)


def counters(snapshot: Mapping[str, Any] | None, revision: int) -> Counters:
    """The cumulative counters of `revision` in a full `proxy.metrics()` snapshot."""
    if snapshot is None:
        return _ZERO
    revisions = snapshot.get("revisions")
    if not isinstance(revisions, Mapping):
        raise SnapshotError("proxy snapshot: expected a 'revisions' object")
    raw = revisions.get(str(revision))
    if raw is None:
        return _ZERO  # the revision has served nothing yet
    where = f"revisions.{revision}"
    if not isinstance(raw, Mapping) or not isinstance(raw.get("status"), Mapping):
        raise SnapshotError(f"proxy snapshot: {where}: expected requests, status and latency")
    return (
        _int(raw.get("requests"), f"{where}.requests"),
        _int(raw["status"].get("5xx"), f"{where}.status.5xx"),
        _int(raw.get("aborted", 0), f"{where}.aborted"),
        _latency(raw.get("latency"), f"{where}.latency"),
    )


def restarts(snapshot: Mapping[str, Any] | None, revision: int) -> int:
    """Replica restarts of `revision` in a sample (0 when the sample does not count them)."""
    counted = None if snapshot is None else snapshot.get("restarts")
    if counted is None:
        return 0
    if not isinstance(counted, Mapping):
        raise SnapshotError("proxy snapshot: expected 'restarts' to map revisions to counts")
    return _int(counted.get(str(revision), 0), f"restarts.{revision}")


@dataclass(frozen=True, slots=True)
class Window:
    """Requests of one revision in a span of `elapsed` seconds."""

    revision: int
    requests: int
    errors: int  # responses with a 5xx status, including the proxy's own 502/503/504
    aborted: int  # exchanges that ended without a complete response
    elapsed: float
    latency_counts: tuple[int, ...]  # per bucket of proxy.metrics.BOUNDS, then overflow
    restarts: int = 0  # replica restarts of the revision (the supervisor's)

    @classmethod
    def between(
        cls,
        revision: int,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any],
        elapsed: float,
    ) -> Window:
        """The window of `revision` from snapshot `before` (None: from zero) to `after`."""
        old, new = counters(before, revision), counters(after, revision)
        diff = [new[0] - old[0], new[1] - old[1], new[2] - old[2]]
        buckets = [b - a for a, b in zip(old[3], new[3], strict=True)]
        if min(diff) < 0 or min(buckets) < 0:
            diff, buckets = list(new[:3]), list(new[3])  # counters were reset
        crashes = restarts(after, revision) - restarts(before, revision)
        if crashes < 0:
            crashes = restarts(after, revision)  # the agent restarted: counted from zero
        return cls(revision, diff[0], diff[1], diff[2], max(elapsed, 0.0), tuple(buckets), crashes)

    @property
    def success_rate(self) -> float | None:
        return (self.requests - self.errors) / self.requests if self.requests else None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def crash_rate(self) -> float | None:
        """Replica restarts per minute; None for an empty span."""
        return self.restarts * 60 / self.elapsed if self.elapsed > 0 else None

    @property
    def request_rate(self) -> float | None:
        """Requests per second; None for an empty span."""
        return self.requests / self.elapsed if self.elapsed > 0 else None

    @property
    def latency_samples(self) -> int:
        """Requests whose latency was measured (all on the builtin proxy; a sample on
        the haproxy engine: one in `proxy.log_sample`, or with "auto" all of them under
        500 a second and about 500 a second above)."""
        return sum(self.latency_counts)

    def latency(self, q: float) -> float | None:
        """Latency (seconds) below which a fraction `q` of the window's requests fall."""
        if not 0 <= q <= 1:
            raise ValueError(f"percentile must be between 0 and 1, got {q}")
        return percentile(list(self.latency_counts), q) if sum(self.latency_counts) else None
