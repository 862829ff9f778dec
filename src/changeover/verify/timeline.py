"""One timeline of the rollout's events and the failed requests, on one time base.

Invariant: times are seconds since the rollout started (negative before it); every
failure appears in exactly one row, rows are in time order (an event before a failure at
the same instant), and consecutive failures of one kind with no event between them share
a row, so a burst of failures reads as one line next to the event that preceded it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from changeover.loadgen import FailureRecord


class RowSource(StrEnum):
    EVENT = "event"
    FAILURES = "failures"

    def __repr__(self) -> str:
        return f"RowSource.{self.name}"


@dataclass(frozen=True, slots=True)
class RolloutEvent:
    """An agent event, as `GET /v1/events` returns it (`ts` is a Unix time)."""

    id: int
    ts: float
    kind: str
    message: str

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> RolloutEvent:
        return cls(int(doc["id"]), float(doc["ts"]), str(doc["kind"]), str(doc["message"]))


@dataclass(frozen=True, slots=True)
class TimedFailure:
    """A failed request placed on the rollout's time base, with the event just before it."""

    t: float
    kind: str
    status: int | None
    path: str
    reuse: int
    after_event: int | None
    """Id of the last event at or before the failure; None if it came before every event."""
    since_event: float | None


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """An event, or a run of failures of one kind (`t` first, `until` last)."""

    source: RowSource
    t: float
    until: float
    count: int
    text: str


@dataclass(frozen=True, slots=True)
class Clock:
    """Converts both time bases to seconds since the rollout started."""

    load_start: float
    """Unix time of the load's t = 0 (failure times are relative to it)."""
    rollout_start: float
    """Unix time at which the rollout started."""

    def from_load(self, t: float) -> float:
        return self.load_start + t - self.rollout_start

    def from_wall(self, ts: float) -> float:
        return ts - self.rollout_start


def place_failures(
    failures: Iterable[FailureRecord], events: Sequence[RolloutEvent], clock: Clock
) -> list[TimedFailure]:
    """Failures in time order, each with the event that preceded it."""
    times = [clock.from_wall(e.ts) for e in events]
    placed = []
    for f in sorted(failures, key=lambda f: f.t):
        t = clock.from_load(f.t)
        index = bisect.bisect_right(times, t) - 1
        before = events[index] if index >= 0 else None
        since = None if before is None else t - times[index]
        eid = None if before is None else before.id
        placed.append(TimedFailure(t, f.kind, f.status, f.path, f.reuse, eid, since))
    return placed


def merge(
    events: Sequence[RolloutEvent], failures: Sequence[TimedFailure], clock: Clock
) -> list[TimelineRow]:
    """Events and runs of failures, in time order."""
    items: list[tuple[float, int, RolloutEvent | TimedFailure]] = [
        (clock.from_wall(e.ts), 0, e) for e in events
    ]
    items += [(f.t, 1, f) for f in failures]
    items.sort(key=lambda item: item[:2])
    rows: list[TimelineRow] = []
    run: list[TimedFailure] = []
    for t, _, item in items:
        if isinstance(item, TimedFailure):
            if run and run[0].kind != item.kind:
                rows.append(_run_row(run))
                run = []
            run.append(item)
            continue
        if run:
            rows.append(_run_row(run))
            run = []
        rows.append(TimelineRow(RowSource.EVENT, t, t, 1, item.message))
    if run:
        rows.append(_run_row(run))
    return rows


def _run_row(run: list[TimedFailure]) -> TimelineRow:
    first, last = run[0], run[-1]
    paths = sorted({f.path for f in run})
    where = paths[0] if len(paths) == 1 else f"{len(paths)} paths"
    codes = sorted({f.status for f in run if f.status is not None})
    status = f" (HTTP {', '.join(map(str, codes))})" if codes else ""
    text = f"{len(run)} failed: {first.kind}{status} on {where}"
    return TimelineRow(RowSource.FAILURES, first.t, last.t, len(run), text)
