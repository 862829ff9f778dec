"""Weekly time windows ("Fri 16:00 - Mon 08:00", "22:00 - 06:00") in a named time zone.

Invariant: a window is a set of minutes of the week in its time zone, so whether an
instant falls inside is a pure function of the instant (an aware datetime): daylight
saving changes move the wall clock, never the window. The standard library only
(`zoneinfo`), so the spec validates windows and the agent evaluates them the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK = 7 * 24 * 60
_POINT = r"(?:(?P<{0}day>[A-Za-z]{{3}})\s+)?(?P<{0}h>\d{{1,2}}):(?P<{0}m>\d{{2}})"
_RANGE = re.compile(rf"\s*{_POINT.format('a')}\s*-\s*{_POINT.format('b')}\s*")
HINT = 'a weekly range like "Fri 16:00 - Mon 08:00", or a daily one like "22:00 - 06:00"'


@dataclass(frozen=True)
class Window:
    """Minutes of the week [start, end) (wrapping past Sunday 24:00), or daily ones."""

    start: int  # minute of the week (weekly) or of the day (daily)
    end: int
    daily: bool
    zone: str

    @classmethod
    def parse(cls, text: str, zone: str = "UTC") -> Window:
        """The window `text` describes; ValueError saying what is expected otherwise."""
        match = _RANGE.fullmatch(text)
        if not match:
            raise ValueError(f"expected {HINT}, got {text!r}")
        a, b = _point(match, "a"), _point(match, "b")
        if (a[0] is None) != (b[0] is None):
            raise ValueError(f"name a day at both ends or at neither, got {text!r}")
        time_zone(zone)
        daily = a[0] is None
        start = a[1] + 1440 * (a[0] or 0)
        end = b[1] + 1440 * (b[0] or 0)
        if start == end:
            raise ValueError(f"the range {text!r} is empty: it starts where it ends")
        return cls(start, end, daily, zone)

    def contains(self, instant: datetime) -> bool:
        """Whether the aware `instant` falls inside, read in the window's time zone."""
        local = instant.astimezone(time_zone(self.zone))
        minute = local.hour * 60 + local.minute
        if not self.daily:
            minute += local.weekday() * 1440
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end  # wraps past midnight or Sunday


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; expected an IANA name like 'Europe/Paris' or 'UTC'"
        ) from None


def _point(match: re.Match[str], side: str) -> tuple[int | None, int]:
    day, hour, minute = match[f"{side}day"], int(match[f"{side}h"]), int(match[f"{side}m"])
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        raise ValueError(f"expected a time from 00:00 to 24:00, got {hour:02d}:{minute:02d}")
    if day is None:
        return None, hour * 60 + minute
    if day.lower() not in DAYS:
        raise ValueError(f"expected a day among {', '.join(d.title() for d in DAYS)}, got {day!r}")
    return DAYS.index(day.lower()), hour * 60 + minute
