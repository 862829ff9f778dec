"""Release trains: cut-offs every `every` from `first`, and whether a cut may happen now.

Invariant: cut-offs are instants, `first + k * every` for whole k >= 0, computed in UTC,
so a daylight-saving change moves their wall-clock time, never their spacing; they are
shown in the zone of `first`. A cut-off is reached at its very instant: at a cut-off,
`previous_cutoff` is that cut-off and `next_cutoff` the one after. Pure: the caller
passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from changeover.units import format_duration


def _aware(what: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: expected a time with a UTC offset, got {value.isoformat()}")
    return value


@dataclass(frozen=True)
class Train:
    every: timedelta
    first: datetime  # the first cut-off

    def __post_init__(self) -> None:
        _aware("train first cut-off", self.first)
        if self.every <= timedelta(0):
            raise ValueError(f"train every: expected a duration above 0s, got {self.every}")

    @classmethod
    def of(cls, every_seconds: float, first: datetime) -> Train:
        """From the spec's values: `every` in seconds (as `units.parse_duration` gives)."""
        return cls(timedelta(seconds=every_seconds), first)

    def _shown(self, instant: datetime) -> datetime:
        return instant.astimezone(self.first.tzinfo)

    def cutoff(self, k: int) -> datetime:
        """The k-th cut-off (k = 0 is `first`)."""
        return self._shown(self.first.astimezone(UTC) + k * self.every)

    def index_at(self, at: datetime) -> int:
        """The number of the last cut-off at or before `at` (-1 before the first)."""
        elapsed = _aware("train time", at).astimezone(UTC) - self.first.astimezone(UTC)
        return elapsed // self.every


def next_cutoff(train: Train, after: datetime) -> datetime:
    """The first cut-off strictly after `after`."""
    return train.cutoff(max(train.index_at(after) + 1, 0))


def previous_cutoff(train: Train, at: datetime) -> datetime | None:
    """The last cut-off at or before `at`; None before the first one."""
    k = train.index_at(at)
    return train.cutoff(k) if k >= 0 else None


@dataclass(frozen=True)
class Cut:
    """Whether a release may be cut from the train now, and the cut-off it belongs to."""

    allowed: bool
    forced: bool
    cutoff: datetime | None  # the cut-off this release departs from; None when forced early
    next_cutoff: datetime
    reason: str

    def to_json(self) -> dict[str, object]:
        def text(t: datetime | None) -> str | None:
            return t.isoformat() if t is not None else None

        return {
            "allowed": self.allowed,
            "forced": self.forced,
            "cutoff": text(self.cutoff),
            "next_cutoff": text(self.next_cutoff),
            "reason": self.reason,
        }


def may_cut(
    train: Train, now: datetime, *, last_cut: datetime | None = None, force: bool = False
) -> Cut:
    """A train release may be cut once a cut-off has passed that no release was cut
    after (`last_cut`: when the last train release was cut); `force` cuts early."""
    upcoming = next_cutoff(train, now)
    passed = previous_cutoff(train, now)
    # compared in UTC: Python compares two times of one ZoneInfo by their wall clocks
    last = _aware("last cut", last_cut).astimezone(UTC) if last_cut is not None else None
    if passed is not None and (last is None or last < passed.astimezone(UTC)):
        reason = f"the cut-off of {passed.isoformat()} has passed"
        return Cut(True, False, passed, upcoming, reason)
    why = (
        f"the train's next cut-off is {upcoming.isoformat()} "
        f"(every {format_duration(train.every.total_seconds())})"
    )
    if passed is not None:
        why += f"; the train of {passed.isoformat()} was cut already"
    if force:
        return Cut(True, True, None, upcoming, f"forced before the cut-off: {why}")
    return Cut(False, False, None, upcoming, f"too early: {why}; cut it then, or force it")
