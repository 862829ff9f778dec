"""The dashboard's chart history (`dashboard.series.Trend`): one point per second per
revision from successive proxy snapshots, None for a second without requests, bounded
memory, and a counter reset read as a fresh start."""

from __future__ import annotations

from typing import Any

import pytest

from changeover.agent.dashboard.series import Trend
from changeover.proxy.metrics import Metrics


def snap(metrics: Metrics) -> dict[str, Any]:
    return metrics.snapshot()


def test_each_point_is_the_second_between_two_samples() -> None:
    metrics, trend = Metrics(), Trend(keep=5)
    trend.add(100.0, snap(metrics))
    stats = metrics.revision(2)
    for _ in range(9):
        stats.completed(200, 0.008)
    stats.completed(503, 0.001)
    trend.add(102.0, snap(metrics))  # two seconds: half the rate
    trend.add(103.0, snap(metrics))  # nothing in this second
    points = trend.doc()["revisions"]["2"]
    assert points[0][:3] == [102.0, 5.0, 0.9]
    assert 0.0067 < points[0][4] <= 0.008  # p95 within the bucket of 8 ms
    assert points[1] == [103.0, 0.0, None, None, None, None]  # no data is not zero
    assert [p[0] for p in trend.doc(after=102.0)["revisions"]["2"]] == [103.0]


def test_memory_is_bounded_and_idle_revisions_are_forgotten() -> None:
    metrics, trend = Metrics(), Trend(keep=3)
    trend.add(0.0, snap(metrics))
    metrics.revision(1).completed(200, 0.001)
    trend.add(1.0, snap(metrics))
    assert trend.revisions() == [1]
    metrics.revisions.clear()  # the revision is gone from the proxy (a new agent)
    for t in range(2, 8):
        trend.add(float(t), snap(metrics))
    assert trend.revisions() == []
    metrics.revision(3).completed(200, 0.001)
    for t in range(8, 20):
        trend.add(float(t), snap(metrics))
    assert len(trend.doc()["revisions"]["3"]) == 3


def test_a_counter_reset_or_a_clock_step_back_adds_no_negative_point() -> None:
    metrics, trend = Metrics(), Trend()
    trend.add(0.0, snap(metrics))
    for _ in range(50):
        metrics.revision(1).completed(200, 0.001)
    trend.add(1.0, snap(metrics))
    fresh = Metrics()
    fresh.revision(1).completed(200, 0.001)
    trend.add(2.0, snap(fresh))  # counted from zero again: the later snapshot is the second
    trend.add(1.5, snap(fresh))  # the wall clock stepped back: nothing is added
    rates = [p[1] for p in trend.doc()["revisions"]["1"]]
    assert rates == [50.0, 1.0]
    assert min(rates) >= 0


@pytest.mark.parametrize("first", [0.0, 10.0])
def test_the_first_sample_has_no_point(first: float) -> None:
    trend = Trend()
    metrics = Metrics()
    metrics.revision(1).completed(200, 0.001)
    trend.add(first, snap(metrics))
    assert trend.doc()["revisions"] == {}
