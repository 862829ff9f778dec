"""Weekly and daily time windows: parsing, membership, time zones, daylight saving."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from changeover.spec.windows import Window

PARIS = "Europe/Paris"


def at(text: str, zone: str = "UTC") -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def test_a_weekend_freeze_wraps_past_sunday() -> None:
    w = Window.parse("Fri 16:00 - Mon 08:00", PARIS)
    assert w.contains(at("2026-12-04 16:00", PARIS))  # a Friday
    assert w.contains(at("2026-12-06 12:00", PARIS))  # Sunday
    assert w.contains(at("2026-12-07 07:59", PARIS))  # Monday morning
    assert not w.contains(at("2026-12-07 08:00", PARIS))
    assert not w.contains(at("2026-12-04 15:59", PARIS))
    assert not w.contains(at("2026-12-09 12:00", PARIS))  # Wednesday


def test_the_zone_decides_not_the_instants_own_offset() -> None:
    w = Window.parse("Fri 16:00 - Mon 08:00", PARIS)
    # 15:30 UTC on a winter Friday is 16:30 in Paris: inside
    assert w.contains(datetime(2026, 12, 4, 15, 30, tzinfo=UTC))
    assert not w.contains(datetime(2026, 12, 4, 14, 30, tzinfo=UTC))


def test_daylight_saving_moves_utc_not_the_wall_clock() -> None:
    w = Window.parse("09:00 - 17:00", PARIS)
    assert w.contains(datetime(2026, 1, 15, 8, 0, tzinfo=UTC))  # 09:00 CET
    assert w.contains(datetime(2026, 7, 15, 7, 0, tzinfo=UTC))  # 09:00 CEST
    assert not w.contains(datetime(2026, 7, 15, 6, 59, tzinfo=UTC))


def test_a_daily_range_may_cross_midnight() -> None:
    w = Window.parse("22:00 - 06:00")
    assert w.contains(at("2026-12-07 23:00"))
    assert w.contains(at("2026-12-08 05:59"))
    assert not w.contains(at("2026-12-08 06:00"))


@pytest.mark.parametrize(
    ("text", "zone", "message"),
    [
        ("friday afternoon", "UTC", "expected a weekly range like"),
        ("Fri 16:00 - 08:00", "UTC", "name a day at both ends or at neither"),
        ("Fri 25:00 - Mon 08:00", "UTC", "expected a time from 00:00 to 24:00"),
        ("Fry 16:00 - Mon 08:00", "UTC", "expected a day among Mon, Tue"),
        ("10:00 - 10:00", "UTC", "is empty"),
        ("10:00 - 11:00", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_windows_say_what_is_expected(text: str, zone: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Window.parse(text, zone)


@given(
    st.integers(0, 6), st.integers(0, 1439), st.integers(0, 6), st.integers(0, 1439),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
)  # fmt: skip
def test_a_window_and_its_complement_split_every_instant(
    d1: int, m1: int, d2: int, m2: int, when: datetime
) -> None:
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    a = f"{days[d1]} {m1 // 60:02d}:{m1 % 60:02d}"
    b = f"{days[d2]} {m2 // 60:02d}:{m2 % 60:02d}"
    assume(a != b)
    inside, outside = Window.parse(f"{a} - {b}"), Window.parse(f"{b} - {a}")
    instant = when.replace(tzinfo=UTC)
    assert inside.contains(instant) != outside.contains(instant)
