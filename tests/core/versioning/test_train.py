"""Release trains: cut-offs as instants, across time zones and daylight saving, and the
decision to cut at, before and after a cut-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.units import parse_duration
from changeover.versioning.train import Train, may_cut, next_cutoff, previous_cutoff

PARIS = ZoneInfo("Europe/Paris")
FIRST = datetime.fromisoformat("2026-01-05T10:00:00+01:00")  # a Monday, 09:00 UTC
TRAIN = Train.of(parse_duration("2w"), FIRST)


def test_cutoffs_every_two_weeks_from_the_first() -> None:
    assert next_cutoff(TRAIN, FIRST - timedelta(days=30)) == FIRST
    assert next_cutoff(TRAIN, FIRST + timedelta(days=1)) == FIRST + timedelta(weeks=2)
    assert previous_cutoff(TRAIN, FIRST - timedelta(seconds=1)) is None
    assert previous_cutoff(TRAIN, FIRST + timedelta(days=20)) == FIRST + timedelta(weeks=2)


def test_the_boundary_belongs_to_the_cutoff_it_reaches() -> None:
    second = FIRST + timedelta(weeks=2)
    assert previous_cutoff(TRAIN, second) == second
    assert next_cutoff(TRAIN, second) == second + timedelta(weeks=2)
    assert previous_cutoff(TRAIN, second - timedelta(microseconds=1)) == FIRST
    assert next_cutoff(TRAIN, second - timedelta(microseconds=1)) == second


def test_cutoffs_are_instants_whatever_zone_the_question_is_asked_in() -> None:
    # 09:30 UTC on the first Monday is 18:30 in Tokyo: past the cut-off everywhere
    tokyo = datetime(2026, 1, 5, 18, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert previous_cutoff(TRAIN, tokyo) == FIRST
    new_york = datetime(2026, 1, 5, 3, 59, tzinfo=ZoneInfo("America/New_York"))  # 08:59 UTC
    assert previous_cutoff(TRAIN, new_york) is None
    assert next_cutoff(TRAIN, new_york).utcoffset() == timedelta(hours=1)  # shown as `first`


def test_daylight_saving_moves_the_wall_clock_not_the_spacing() -> None:
    paris = Train.of(parse_duration("1w"), datetime(2026, 3, 23, 10, 0, tzinfo=PARIS))
    after_switch = next_cutoff(paris, datetime(2026, 3, 24, tzinfo=UTC))  # DST on Mar 29
    # (in UTC: Python subtracts two times of one ZoneInfo by their wall clocks)
    assert after_switch.astimezone(UTC) - paris.first.astimezone(UTC) == timedelta(weeks=1)
    assert after_switch.astimezone(UTC) == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
    assert after_switch.astimezone(PARIS).hour == 11  # 10:00 CET is 11:00 CEST


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1),
        max_value=datetime(2035, 1, 1),
        timezones=st.sampled_from([UTC, PARIS, ZoneInfo("America/New_York")]),
    ),
    st.integers(min_value=3600, max_value=60 * 86400),
)
def test_previous_and_next_bracket_any_instant(at: datetime, seconds: int) -> None:
    train = Train.of(seconds, FIRST)
    after = next_cutoff(train, at)
    before = previous_cutoff(train, at)
    assert at < after
    if before is None:
        assert after == FIRST
    else:
        assert before <= at
        assert after - before == timedelta(seconds=seconds)


def test_a_cut_is_allowed_once_a_cutoff_has_passed_that_no_release_was_cut_after() -> None:
    second = FIRST + timedelta(weeks=2)
    cut = may_cut(TRAIN, second, last_cut=FIRST + timedelta(hours=1))
    assert (cut.allowed, cut.forced, cut.cutoff) == (True, False, second)
    assert cut.reason == "the cut-off of 2026-01-19T10:00:00+01:00 has passed"
    assert may_cut(TRAIN, FIRST + timedelta(days=3)).allowed  # never cut yet


def test_before_the_cutoff_a_cut_is_refused_unless_forced() -> None:
    early = may_cut(TRAIN, FIRST - timedelta(minutes=1))
    assert (early.allowed, early.cutoff, early.next_cutoff) == (False, None, FIRST)
    assert early.reason == (
        "too early: the train's next cut-off is 2026-01-05T10:00:00+01:00 (every 14d); "
        "cut it then, or force it"
    )
    already = may_cut(TRAIN, FIRST + timedelta(days=2), last_cut=FIRST + timedelta(hours=2))
    assert not already.allowed
    assert "the train of 2026-01-05T10:00:00+01:00 was cut already" in already.reason
    forced = may_cut(TRAIN, FIRST - timedelta(minutes=1), force=True)
    assert (forced.allowed, forced.forced) == (True, True)
    assert forced.to_json() == {
        "allowed": True,
        "forced": True,
        "cutoff": None,
        "next_cutoff": "2026-01-05T10:00:00+01:00",
        "reason": forced.reason,
    }


def test_naive_times_and_empty_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="train time: expected a time with a UTC offset"):
        next_cutoff(TRAIN, datetime(2026, 1, 5, 10, 0))
    with pytest.raises(ValueError, match="train first cut-off: expected a time with a UTC"):
        Train.of(60, datetime(2026, 1, 5, 10, 0))
    with pytest.raises(ValueError, match="train every: expected a duration above 0s"):
        Train.of(0, FIRST)
