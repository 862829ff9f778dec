"""Histogram buckets, interpolated percentiles and the metrics snapshot shape."""

from __future__ import annotations

import itertools
import json

import pytest

from changeover.histogram import BOUNDS, Histogram, percentile
from changeover.proxy.metrics import Metrics


def test_bounds_are_log_spaced_from_quarter_millisecond_to_a_minute() -> None:
    assert BOUNDS[0] == 0.00025
    assert BOUNDS[-1] == 60.0
    ratios = [b / a for a, b in itertools.pairwise(BOUNDS[:-1])]
    assert all(1.18 < r < 1.2 for r in ratios)


def test_value_lands_in_first_bucket_whose_bound_is_not_below_it() -> None:
    hist = Histogram()
    hist.observe(BOUNDS[3])
    hist.observe(BOUNDS[3] * 1.01)
    hist.observe(1000.0)
    assert hist.counts[3] == 1
    assert hist.counts[4] == 1
    assert hist.counts[-1] == 1
    assert hist.count == 3


def test_percentiles_interpolate_within_a_bucket() -> None:
    counts = [0] * (len(BOUNDS) + 1)
    counts[10] = 100  # all in (BOUNDS[9], BOUNDS[10]]
    lo, hi = BOUNDS[9], BOUNDS[10]
    assert percentile(counts, 0.5) == pytest.approx(lo + (hi - lo) * 0.5)
    assert percentile(counts, 0.99) == pytest.approx(lo + (hi - lo) * 0.99)


def test_percentiles_of_a_spread_are_within_one_bucket_of_truth() -> None:
    hist = Histogram()
    values = [0.001 * i for i in range(1, 1001)]  # 1 ms .. 1 s uniform
    for v in values:
        hist.observe(v)
    for q, truth in ((0.5, 0.5), (0.9, 0.9), (0.99, 0.99)):
        assert truth / 1.2 <= hist.percentile(q) <= truth * 1.2


def test_empty_and_overflow_percentiles() -> None:
    assert Histogram().percentile(0.5) == 0.0
    hist = Histogram()
    hist.observe(120.0)
    assert hist.percentile(0.99) == 60.0


def test_snapshot_shape_is_json_serialisable() -> None:
    metrics = Metrics()
    stats = metrics.revision(3)
    stats.completed(200, 0.01)
    stats.completed(503, 0.02)
    stats.errors["502"] += 1
    stats.aborted += 1
    metrics.unrouted = 2
    snap = json.loads(json.dumps(metrics.snapshot()))
    rev = snap["revisions"]["3"]
    assert rev["requests"] == 2
    assert rev["status"] == {"1xx": 0, "2xx": 1, "3xx": 0, "4xx": 0, "5xx": 1}
    assert rev["proxy_errors"] == {"502": 1, "503": 0, "504": 0}
    assert rev["aborted"] == 1
    assert rev["latency"]["count"] == 2
    assert rev["latency"]["buckets"][-1] == [60.0, 2]
    assert 0.008 < rev["latency"]["p50"] < 0.012
    assert snap["unrouted"] == 2
