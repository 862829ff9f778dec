"""Durations and counts-or-percentages: parsing, formatting, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.units import Quantity, format_duration, parse_duration, parse_quantity


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("5s", 5.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1.5s", 1.5),
        ("0", 0.0),
        (" 10s ", 10.0),
        ("1h2m3s4ms", 3723.004),
        ("7d", 604800.0),
        ("1d12h", 129600.0),
        ("1w", 604800.0),
        ("2w", 1209600.0),
        ("1w2d", 777600.0),
        ("0.5w", 302400.0),
    ],
)
def test_parse_duration_accepts_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["5", "5 s", "s", "", "-1s", "5 minutes", "1W", "w", "2 w", "1.s", "ms"]
)
def test_parse_duration_rejects_without_a_unit(text: str) -> None:
    with pytest.raises(ValueError, match="duration with a unit"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**7))
def test_duration_round_trips_milliseconds(ms: int) -> None:
    seconds = ms / 1000
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_duration_round_trips_any_float(seconds: float) -> None:
    # Nanosecond resolution is all a duration needs.
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-12, abs=1e-9)


@given(st.text(max_size=12))
def test_parse_duration_never_crashes_on_garbage(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        message = str(exc)
    else:
        message = "duration" if seconds >= 0 else "negative"
    assert "duration" in message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, Quantity(0)),
        (3, Quantity(3)),
        ("25%", Quantity(25, True)),
        ("100%", Quantity(100, True)),
        ("2", Quantity(2)),
    ],
)
def test_parse_quantity(raw: object, expected: Quantity) -> None:
    assert parse_quantity(raw) == expected


@pytest.mark.parametrize("raw", [-1, "101%", "x", True, 1.5, "25 percent", None])
def test_parse_quantity_rejects(raw: object) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_quantity(raw)


@given(total=st.integers(1, 500), pct=st.integers(0, 100))
def test_percent_resolution_rounds_like_kubernetes(total: int, pct: int) -> None:
    q = Quantity(pct, percent=True)
    up, down = q.resolve(total, round_up=True), q.resolve(total, round_up=False)
    assert down <= total * pct / 100 <= up
    assert up - down in (0, 1)
    assert Quantity(pct).resolve(total, round_up=True) == pct


def test_format_duration_uses_days_when_exact() -> None:
    assert format_duration(604800.0) == "7d"
    assert format_duration(129600.0) == "36h"


def test_weeks_are_read_and_written_as_days() -> None:
    # Formatting never emits "w", so texts formatted before weeks existed are unchanged.
    assert format_duration(parse_duration("2w")) == "14d"
    assert parse_duration(format_duration(parse_duration("2w"))) == parse_duration("2w")


@given(weeks=st.integers(0, 520), days=st.integers(0, 6), hours=st.integers(0, 23))
def test_durations_with_weeks_round_trip(weeks: int, days: int, hours: int) -> None:
    seconds = parse_duration(f"{weeks}w{days}d{hours}h")
    assert seconds == weeks * 604800 + days * 86400 + hours * 3600
    assert parse_duration(format_duration(seconds)) == seconds
