"""`log_sample = "auto"`'s decision (haproxy/sampling.py): requests counted and the time in,
the level out. Fake time only: each test says when the stats were read and what they
counted, so no verdict depends on how fast the machine is."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.haproxy import sampling
from changeover.haproxy.sampling import (
    LOG_RATE,
    LOWER,
    MAX_LEVEL,
    RECENT,
    WINDOW,
    Sampling,
    entries,
    level_of,
    needed,
    observe,
    rate,
)

POLL = 0.5  # the engine reads the stats this often


def steady(
    rates: list[tuple[float, float]], start: Sampling | None = None, poll: float = POLL
) -> list[tuple[float, int]]:
    """(seconds, requests a second) pieces read every `poll`: (time, level) after each."""
    state, now, count, out = start or Sampling(), 0.0, 0.0, []
    state = observe(state, now, 0)
    for seconds, per_second in rates:
        for _ in range(round(seconds / poll)):
            now += poll
            count += per_second * poll
            state = observe(state, now, int(count))
            out.append((now, state.level))
    return out


def levels(trace: list[tuple[float, int]]) -> list[int]:
    return [level for _, level in trace]


def level_at(trace: list[tuple[float, int]], when: float) -> int:
    return next(level for now, level in trace if now >= when - 1e-9)


# --- tables ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_second", "level"),
    [
        (0, 0),
        (1, 0),
        (500, 0),  # at the cap: every response
        (501, 1),
        (1000, 1),
        (1001, 2),
        (36_000, 7),  # 281 lines a second
        (500 * 65_536, 16),
        (10**9, 16),  # past the last level: as few as HAProxy can be told
    ],
)
def test_the_level_is_the_smallest_that_brings_the_lines_under_the_cap(
    per_second: float, level: int
) -> None:
    assert needed(per_second) == level
    trace = steady([(20, per_second)])
    assert set(levels(trace)[2:]) == {level}  # from the first second on, never changed


def test_a_quiet_service_logs_every_response() -> None:
    assert set(levels(steady([(60, 100)]))) == {0}


def test_nothing_is_decided_before_a_second_of_counts() -> None:
    state = observe(observe(Sampling(), 0.0, 0), 0.5, 50_000)
    assert state.level == 0  # half a second: no rate yet
    assert observe(state, 1.0, 100_000).level == needed(100_000)


def test_a_surge_raises_the_level_at_the_first_read_that_shows_it() -> None:
    trace = steady([(10, 100), (10, 36_000)])
    assert level_at(trace, 10.0) == 0
    # 10.5: the last second was half quiet, half 36k: 18k a second, 1 in 64
    assert level_at(trace, 10.5) == 6
    assert level_at(trace, 11.0) == 7
    assert set(levels(trace)[22:]) == {7}


def test_a_fall_lowers_the_level_only_once_the_whole_window_says_so() -> None:
    trace = steady([(10, 36_000), (15, 100)])
    assert level_at(trace, 10.0) == 7
    for when in (11.0, 12.0, 14.0, 14.5):  # the window still holds the busy seconds
        assert level_at(trace, when) > 0, when
    assert level_at(trace, 10.0 + WINDOW + POLL) == 0
    assert levels(trace)[-1] == 0


def test_a_rate_at_a_boundary_never_flaps() -> None:
    """Around 1000 a second (1 in 2's cap): raised to 1 in 4 once, and kept; lowering
    to 1 in 2 would need under 750 a second (3/4 of the cap's lines)."""
    pieces = [(1, 990 if i % 2 else 1010) for i in range(60)]
    trace = levels(steady(pieces))
    changes = [b for a, b in itertools.pairwise(trace) if a != b]
    assert changes in ([1, 2], [2])
    assert trace[-1] == 2


def test_lowered_only_to_where_the_lines_stay_under_three_quarters_of_the_cap() -> None:
    start = Sampling(level=5)
    trace = steady([(20, 740)], start)  # 740 / 2 = 370 lines: under 375, lowered to 1
    assert levels(trace)[-1] == 1
    trace = steady([(20, 760)], start)  # 760 / 2 = 380: not under 375, kept at 2
    assert levels(trace)[-1] == 2


def test_counters_that_went_down_measure_again_and_never_lower_the_level() -> None:
    state = Sampling()
    now, count = 0.0, 0
    for _ in range(20):  # 36k a second for 10 s: 1 in 128
        state = observe(state, now, count)
        now, count = now + POLL, count + 18_000
    assert state.level == 7
    restarted = observe(state, now, 1_000)  # HAProxy started again: its counters are new
    assert restarted == Sampling(7, ((now, 1_000),))
    count = 1_000
    for _ in range(20):  # the same traffic: the level never moves
        now, count = now + POLL, count + 18_000
        restarted = observe(restarted, now, count)
        assert restarted.level == 7


def test_a_reset_at_low_traffic_lowers_only_on_a_full_window_of_new_counts() -> None:
    state = observe(Sampling(level=3, seen=((0.0, 90_000),)), 1.0, 10)
    assert state.level == 3  # a negative rate would have lowered it to 0 at once
    for step in range(1, 13):  # 100 a second after the restart
        state = observe(state, 1.0 + step * POLL, 10 + step * 50)
        assert state.level == (3 if step * POLL < WINDOW else 0), step


def test_time_that_goes_back_or_stands_still_measures_nothing() -> None:
    state = observe(observe(Sampling(), 10.0, 0), 11.0, 100_000)
    assert state.level == needed(100_000)
    assert observe(state, 11.0, 200_000) == state
    assert observe(state, 5.0, 200_000) == Sampling(state.level, ((5.0, 200_000),))


def test_the_observations_kept_cover_the_window_and_no_more() -> None:
    state = Sampling()
    for tick in range(100):
        state = observe(state, tick * POLL, tick * 10)
    assert len(state.seen) == WINDOW / POLL + 1
    assert state.seen[-1][0] - state.seen[0][0] == WINDOW


@pytest.mark.parametrize(
    ("level", "key"), [(0, "0:65535"), (1, "0:32767"), (6, "0:1023"), (16, "0:0")]
)
def test_the_map_holds_the_draws_that_are_logged(level: int, key: str) -> None:
    assert entries(level) == ((key, "1"),)
    assert level_of(entries(level)) == level
    assert sampling.describe(level) == f"1 in {2**level}"
    assert Sampling(level).one_in == 2**level


def test_a_map_it_did_not_write_has_no_level_and_a_level_is_0_to_16() -> None:
    assert level_of(()) is None
    assert level_of((("0:9", "1"),)) is None
    for bad in (-1, 17, True):
        with pytest.raises(ValueError, match="a sampling level is 0-16"):
            Sampling(bad)  # type: ignore[arg-type]


def test_the_rule_and_the_map_file() -> None:
    assert sampling.map_file("/run/s") == "/run/s/sample.map"
    assert sampling.rule("/run/s/sample.map") == (
        "http-response set-log-level silent unless"
        " { rand(65536),map_int(/run/s/sample.map,0) -m int 1 }"
    )


# --- properties -----------------------------------------------------------------------

reads = st.lists(
    st.tuples(
        st.floats(min_value=0.01, max_value=3.0),  # seconds since the last read
        st.one_of(
            st.integers(min_value=0, max_value=200_000),  # requests since
            st.just(-1),  # HAProxy restarted: its counters start again
        ),
    ),
    max_size=80,
)


@given(reads, st.integers(min_value=0, max_value=MAX_LEVEL))
def test_the_level_always_keeps_the_lines_under_the_cap_and_never_reads_a_negative_rate(
    steps: list[tuple[float, int]], start: int
) -> None:
    state = observe(Sampling(start), 0.0, 0)
    now, count = 0.0, 0
    for gap, more in steps:
        before = state
        now += gap
        count = 7 if more < 0 else count + more
        state = observe(state, now, count)
        assert 0 <= state.level <= MAX_LEVEL
        assert all(b[1] >= a[1] for a, b in itertools.pairwise(state.seen))
        recent, window = rate(state.seen, RECENT), rate(state.seen, WINDOW)
        measured = [r for r in (recent, window) if r is not None]
        assert all(r >= 0 for r in measured)
        if more < 0 and before.seen and count < before.seen[-1][1]:
            assert state.level == before.level  # a restart decides nothing
        if measured and state.level < MAX_LEVEL:
            assert max(measured) / 2**state.level <= LOG_RATE
        if state.level < before.level:  # lowered: on a full window, under 3/4 of the cap
            assert window is not None
            assert max(measured) / 2**state.level < LOWER * LOG_RATE


@given(
    base=st.floats(min_value=1.0, max_value=5e6),
    pieces=st.lists(
        st.tuples(
            st.floats(min_value=0.5, max_value=4.0),  # seconds of this rate
            st.floats(min_value=1.0, max_value=1.25),  # the rate, as a share of base
        ),
        min_size=1,
        max_size=30,
    ),
    start=st.integers(min_value=0, max_value=MAX_LEVEL),
    poll=st.sampled_from([0.25, 0.5, 1.0]),
)
def test_traffic_that_stays_within_a_quarter_of_itself_never_flaps_the_level(
    base: float, pieces: list[tuple[float, float]], start: int, poll: float
) -> None:
    """Raising from k needs a rate above 500 * 2^k, lowering back to k one under 3/4 of
    that: traffic varying by less than 4/3 can move the level one way only."""
    trace = levels(steady([(s, base * share) for s, share in pieces], Sampling(start), poll))
    moves = {b > a for a, b in itertools.pairwise([start, *trace]) if a != b}
    assert len(moves) <= 1, trace


@pytest.mark.parametrize(
    ("level", "applied", "lines", "seconds", "expected"),
    [
        (0, 0, 50, 0.05, 0),  # 1,000 lines a second: twice the cap, not over it
        (0, 0, 51, 0.05, 2),  # over twice the cap: 1,020 requests a second need 1 in 4
        (0, 0, 1800, 0.05, 7),  # 36,000 a second: 1 in 128, within one tick
        (3, 3, 60, 0.05, 5),  # 1,200 lines at 1 in 8 stand for 9,600 requests: 1 in 32
        (6, 3, 60, 0.05, 6),  # already raised past it (the map not written yet): kept
        (7, 7, 10, 0.05, 7),  # a fall never lowers here: `observe` lowers, on a window
        (0, 0, 5000, 0.0, 0),  # no time: nothing measured
    ],
)
def test_a_surge_in_the_log_raises_the_level_within_a_tick(
    level: int, applied: int, lines: int, seconds: float, expected: int
) -> None:
    state = Sampling(level, ((1.0, 10),))
    after = sampling.surged(state, applied, lines, seconds)
    assert after.level == expected
    assert after.seen == state.seen  # the stats' observations are the stats' own
