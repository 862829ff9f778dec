"""Windows before/during/after the rollout, and exact percentiles."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.verify.windows import Bounds, Samples, Window, percentile, window_stats


def samples(*pairs: tuple[float, float]) -> Samples:
    s = Samples()
    for t, latency in pairs:
        s.add(t, latency)
    return s


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.9) == 90
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile(values, 0.0) == 1
    assert percentile([7.0], 0.99) == 7
    assert percentile([], 0.5) is None


@pytest.mark.parametrize("q", [-0.1, 1.5, math.nan])
def test_percentile_rejects_a_quantile_outside_0_1(q: float) -> None:
    with pytest.raises(ValueError, match="quantile must be within"):
        percentile([1.0], q)


@given(
    st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), min_size=1),
    st.floats(min_value=0, max_value=1),
)
def test_percentile_is_a_member_with_enough_values_at_or_below(
    values: list[float], q: float
) -> None:
    ordered = sorted(values)
    p = percentile(ordered, q)
    assert p in ordered
    assert sum(v <= p for v in ordered) >= q * len(ordered)
    assert sum(v < p for v in ordered) < max(1, math.ceil(q * len(ordered)))


def test_bounds_belong_to_the_rollout() -> None:
    bounds = Bounds(start=2.0, end=5.0)
    assert [bounds.window(t) for t in (0.0, 1.999, 2.0, 3.0, 5.0, 5.001)] == [
        Window.BEFORE,
        Window.BEFORE,
        Window.DURING,
        Window.DURING,
        Window.DURING,
        Window.AFTER,
    ]
    assert repr(Window.DURING) == "Window.DURING"


def test_each_window_has_its_own_latencies_and_failures() -> None:
    s = samples((0.5, 0.001), (1.0, 0.003), (2.5, 0.100), (3.0, 0.200), (6.0, 0.002))
    before, during, after = window_stats(s, [1.5, 4.0, 4.5], Bounds(2.0, 5.0))
    assert (before.window, before.ok, before.failed) == (Window.BEFORE, 2, 1)
    assert (before.p50, before.p99, before.max) == (0.001, 0.003, 0.003)
    assert (during.ok, during.failed, during.requests) == (2, 2, 4)
    assert (during.p50, during.max) == (0.100, 0.200)
    assert (after.ok, after.failed, after.p90) == (1, 0, 0.002)


def test_a_window_without_ok_requests_has_no_latency() -> None:
    _, during, _ = window_stats(samples((0.1, 0.001)), [3.0], Bounds(2.0, 5.0))
    assert during.ok == 0
    assert during.failed == 1
    assert (during.p50, during.p90, during.p99, during.max) == (None, None, None, None)


times = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(
    st.lists(st.tuples(times, st.floats(min_value=0, max_value=1))),
    st.lists(times),
    times,
    st.floats(min_value=0, max_value=50),
)
def test_windows_partition_every_observation(
    pairs: list[tuple[float, float]], failures: list[float], start: float, length: float
) -> None:
    stats = window_stats(samples(*pairs), failures, Bounds(start, start + length))
    assert [w.window for w in stats] == [Window.BEFORE, Window.DURING, Window.AFTER]
    assert sum(w.ok for w in stats) == len(pairs)
    assert sum(w.failed for w in stats) == len(failures)
    for w in stats:
        if w.ok:
            assert w.p50 is not None
            assert w.p99 is not None
            assert w.max is not None
            assert w.p50 <= w.p99 <= w.max
