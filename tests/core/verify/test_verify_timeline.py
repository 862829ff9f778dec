"""Failures placed on the rollout's time base and merged with its events."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.loadgen import FailureRecord
from changeover.verify.timeline import (
    Clock,
    RolloutEvent,
    RowSource,
    merge,
    place_failures,
)

# The load started at Unix time 1000.0, the rollout 2 s later.
CLOCK = Clock(load_start=1000.0, rollout_start=1002.0)
EVENTS = [
    RolloutEvent(10, 1002.0, "rollout", "rollout 2 started"),
    RolloutEvent(11, 1003.0, "replica", "r2-1 ready"),
    RolloutEvent(12, 1004.0, "replica", "r1-1 draining"),
]


def failure(t: float, kind: str = "refused", status: int | None = None) -> FailureRecord:
    return FailureRecord(t, kind, status, "/", 0)


def test_clock_converts_both_time_bases_to_rollout_seconds() -> None:
    assert CLOCK.from_load(0.0) == -2.0
    assert CLOCK.from_load(2.5) == 0.5
    assert CLOCK.from_wall(1004.25) == 2.25


def test_event_from_an_api_document() -> None:
    doc = {"id": 7, "ts": 12.5, "kind": "replica", "rollout_id": 2, "revision": 2, "message": "m"}
    assert RolloutEvent.from_doc(doc) == RolloutEvent(7, 12.5, "replica", "m")


def test_each_failure_names_the_event_before_it() -> None:
    placed = place_failures([failure(4.5), failure(1.0), failure(3.0), failure(2.0)], EVENTS, CLOCK)
    assert [f.t for f in placed] == [-1.0, 0.0, 1.0, 2.5]  # sorted by time
    assert [f.after_event for f in placed] == [None, 10, 11, 12]
    assert [f.since_event for f in placed] == [None, 0.0, 0.0, 0.5]


def test_a_burst_of_one_kind_between_two_events_is_one_row() -> None:
    failures = place_failures(
        [failure(2.2), failure(2.4, "status", 502), failure(2.5, "status", 503), failure(2.6)],
        EVENTS,
        CLOCK,
    )
    rows = merge(EVENTS, failures, CLOCK)
    assert [(r.source, r.count) for r in rows] == [
        (RowSource.EVENT, 1),
        (RowSource.FAILURES, 1),
        (RowSource.FAILURES, 2),
        (RowSource.FAILURES, 1),
        (RowSource.EVENT, 1),
        (RowSource.EVENT, 1),
    ]
    burst = rows[2]
    assert burst.t == pytest.approx(0.4)
    assert burst.until == 0.5
    assert burst.text == "2 failed: status (HTTP 502, 503) on /"
    assert rows[1].text == "1 failed: refused on /"


def test_an_event_splits_a_run_and_comes_first_at_the_same_instant() -> None:
    failures = place_failures([failure(2.5), failure(3.0), failure(3.5)], EVENTS, CLOCK)
    rows = merge(EVENTS, failures, CLOCK)
    assert [(r.source.value, r.t, r.count) for r in rows] == [
        ("event", 0.0, 1),
        ("failures", 0.5, 1),
        ("event", 1.0, 1),
        ("failures", 1.0, 2),
        ("event", 2.0, 1),
    ]


def test_failures_on_several_paths_say_how_many() -> None:
    records = [FailureRecord(2.5, "timeout", None, p, 1) for p in ("/a", "/b", "/a")]
    (_, row, *_) = merge(EVENTS, place_failures(records, EVENTS, CLOCK), CLOCK)
    assert row.text == "3 failed: timeout on 2 paths"


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=10, allow_nan=False),
            st.sampled_from(["refused", "status", "reset_reused"]),
        )
    ),
    st.lists(st.floats(min_value=999, max_value=1012, allow_nan=False)),
)
def test_every_failure_is_in_exactly_one_row_in_time_order(
    raw: list[tuple[float, str]], stamps: list[float]
) -> None:
    events = [RolloutEvent(i, ts, "x", f"e{i}") for i, ts in enumerate(sorted(stamps))]
    failures = place_failures([failure(t, kind) for t, kind in raw], events, CLOCK)
    rows = merge(events, failures, CLOCK)
    assert sum(r.count for r in rows if r.source is RowSource.FAILURES) == len(raw)
    assert sum(1 for r in rows if r.source is RowSource.EVENT) == len(events)
    assert [r.t for r in rows] == sorted(r.t for r in rows)
    assert all(r.t <= r.until for r in rows)
