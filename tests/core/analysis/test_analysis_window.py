"""Windows between two proxy snapshots: diffing, rates, percentiles, resets, bad shapes."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.analysis.window import SnapshotError, Window
from changeover.histogram import BOUNDS, Histogram
from tests.io.analysis.fake_proxy import FakeProxy, Traffic


def test_window_counts_only_what_happened_between_the_snapshots() -> None:
    proxy = FakeProxy()
    proxy.serve(4, Traffic(ok=50, errors=50, latency=2.0))
    before = proxy.sample()
    proxy.serve(4, Traffic(ok=97, errors=3, latency=0.01))
    proxy.serve(3, Traffic(ok=10))
    w = Window.between(4, before, proxy.sample(), elapsed=10.0)
    assert (w.revision, w.requests, w.errors, w.elapsed) == (4, 100, 3, 10.0)
    assert w.success_rate == pytest.approx(0.97)
    assert w.error_rate == pytest.approx(0.03)
    assert w.request_rate == pytest.approx(10.0)
    p99 = w.latency(0.99)
    assert p99 is not None
    assert p99 < 0.02


def test_before_none_means_from_zero_and_unknown_revision_is_empty() -> None:
    proxy = FakeProxy()
    proxy.serve(1, Traffic(ok=5))
    after = proxy.sample()
    assert Window.between(1, None, after, 1.0).requests == 5
    empty = Window.between(9, None, after, 1.0)
    assert (empty.requests, empty.success_rate, empty.error_rate) == (0, None, None)
    assert empty.latency(0.5) is None
    assert empty.request_rate == 0.0
    assert Window.between(1, None, after, 0.0).request_rate is None


def test_counters_that_went_down_mean_a_reset_and_the_later_snapshot_is_the_window() -> None:
    old = FakeProxy()
    old.serve(2, Traffic(ok=100))
    fresh = FakeProxy()
    fresh.serve(2, Traffic(ok=4, errors=1))
    w = Window.between(2, old.sample(), fresh.sample(), 5.0)
    assert (w.requests, w.errors) == (5, 1)
    assert min(w.latency_counts) >= 0


def test_snapshots_survive_json_and_overflow_latency_is_counted() -> None:
    proxy = FakeProxy()
    proxy.serve(1, Traffic(ok=1, latency=120.0))  # above the top bound
    after = json.loads(json.dumps(proxy.sample()))
    w = Window.between(1, None, after, 1.0)
    assert w.latency_counts[-1] == 1
    assert w.latency(0.5) == BOUNDS[-1]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.pop("revisions"), "expected a 'revisions' object"),
        (lambda s: s["revisions"]["1"].update(requests=-1), r"revisions.1.requests: .*>= 0"),
        (lambda s: s["revisions"]["1"]["status"].pop("5xx"), r"revisions.1.status.5xx"),
        (lambda s: s["revisions"]["1"]["latency"]["buckets"].pop(), "BOUNDS"),
        (lambda s: s["revisions"]["1"]["latency"].update(count=0), "cumulative counts go down"),
        (lambda s: s["revisions"].update({"1": "x"}), "expected requests, status and latency"),
    ],
)
def test_malformed_snapshots_say_where(mutate: object, message: str) -> None:
    proxy = FakeProxy()
    proxy.serve(1, Traffic(ok=3))
    snapshot = copy.deepcopy(proxy.sample())
    mutate(snapshot)  # type: ignore[operator]
    with pytest.raises(SnapshotError, match=message):
        Window.between(1, None, snapshot, 1.0)


def test_percentile_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        Window.between(1, None, FakeProxy().sample(), 1.0).latency(95)


latencies = st.lists(st.floats(0.0001, 100.0, allow_nan=False), max_size=40)


@settings(deadline=None)  # shared 2-core machine: no per-example time limit
@given(first=latencies, second=latencies, q=st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_window_percentile_equals_a_histogram_of_the_window_alone(
    first: list[float], second: list[float], q: float
) -> None:
    proxy = FakeProxy()
    for value in first:
        proxy.serve(7, Traffic(ok=1, latency=value))
    before = proxy.sample()
    alone = Histogram()
    for value in second:
        proxy.serve(7, Traffic(ok=1, latency=value))
        alone.observe(value)
    w = Window.between(7, before, proxy.sample(), 1.0)
    assert w.requests == len(second)
    assert w.latency(q) == (alone.percentile(q) if second else None)


def test_restarts_are_diffed_and_a_lower_count_means_the_agent_restarted() -> None:
    before = {"revisions": {}, "restarts": {"3": 2, "4": 7}}
    after = {"revisions": {}, "restarts": {"3": 5, "4": 1}}
    assert Window.between(3, before, after, 10.0).restarts == 3
    assert Window.between(4, before, after, 10.0).restarts == 1  # counted from zero again
    assert Window.between(5, before, after, 10.0).restarts == 0
    assert Window.between(3, None, {"revisions": {}}, 10.0).restarts == 0  # not counted
    assert Window.between(3, before, after, 60.0).crash_rate == pytest.approx(3.0)
    assert Window.between(3, before, after, 0.0).crash_rate is None


def test_malformed_restarts_say_where() -> None:
    with pytest.raises(SnapshotError, match=r"restarts\.3: expected an integer >= 0"):
        Window.between(3, None, {"revisions": {}, "restarts": {"3": -1}}, 1.0)
    with pytest.raises(SnapshotError, match="'restarts' to map revisions to counts"):
        Window.between(3, None, {"revisions": {}, "restarts": [1]}, 1.0)
