"""Builtin queries over canary and stable windows, thresholds and their messages."""

from __future__ import annotations

import pytest

from changeover.analysis.builtin import BUILTIN_QUERIES, check_query, evaluate
from changeover.analysis.model import Outcome
from changeover.analysis.verdict import fmt, judge
from changeover.analysis.window import Window
from tests.io.analysis._helpers import metric
from tests.io.analysis.fake_proxy import FakeProxy, Traffic

PASS, FAIL, INC = Outcome.PASSED, Outcome.FAILED, Outcome.INCONCLUSIVE


def windows(canary: Traffic, stable: Traffic | None = None) -> tuple[Window, Window]:
    proxy = FakeProxy()
    before = proxy.sample()
    proxy.serve(4, canary)
    if stable is not None:
        proxy.serve(3, stable)
    after = proxy.sample()
    return Window.between(4, before, after, 10.0), Window.between(3, before, after, 10.0)


def test_success_rate_below_min_fails_with_values_and_request_count() -> None:
    canary, _ = windows(Traffic(ok=981, errors=421))
    got = evaluate(metric(query="success_rate", min=0.99), canary, None, at=5.0)
    assert (got.metric, got.outcome, got.at) == ("m", FAIL, 5.0)
    assert got.value == pytest.approx(981 / 1402)
    assert got.message == "success_rate 0.6997 < min 0.99 (1402 requests in 10s)"


@pytest.mark.parametrize(
    ("query", "bound", "outcome"),
    [
        ("success_rate", {"min": 0.9}, PASS),
        ("success_rate", {"min": 0.95}, PASS),  # inclusive: 0.95 == min passes
        ("error_rate", {"max": 0.05}, PASS),
        ("error_rate", {"max": 0.04}, FAIL),
        ("request_rate", {"min": 10}, PASS),
        ("request_rate", {"min": 10.5}, FAIL),
        ("latency_p50", {"max": "300ms"}, FAIL),
        ("latency_p99", {"max": "1s"}, PASS),
        ("latency_p95", {}, PASS),  # no threshold: any value passes and is recorded
    ],
)
def test_canary_queries(query: str, bound: dict[str, object], outcome: Outcome) -> None:
    canary, _ = windows(Traffic(ok=95, errors=5, latency=0.4))
    assert evaluate(metric(query=query, **bound), canary, None, 0.0).outcome is outcome


def test_latency_values_are_seconds_and_shown_in_milliseconds() -> None:
    canary, _ = windows(Traffic(ok=10, latency=0.4))
    got = evaluate(metric(query="latency_p95", max="300ms"), canary, None, 0.0)
    assert got.value is not None
    assert 0.4 / 1.2 < got.value < 0.4 * 1.2
    assert got.message.startswith("latency_p95 ")
    assert "ms > max 300ms" in got.message


def test_too_few_canary_requests_are_inconclusive() -> None:
    canary, _ = windows(Traffic(ok=3))
    need20 = evaluate(metric(query="success_rate", min_requests=20), canary, None, 0.0)
    assert need20.outcome is INC
    assert need20.message == (
        "only 3 requests from revision 4 in the window (min_requests 20): inconclusive"
    )
    idle, _ = windows(Traffic())
    none = evaluate(metric(query="success_rate", min=0.99), idle, None, 0.0)
    assert (none.outcome, none.value) == (INC, None)
    assert none.message == "no requests from revision 4 in the window: inconclusive"
    zero_ok = evaluate(metric(query="request_rate", min_requests=0, max=5), idle, None, 0.0)
    assert (zero_ok.outcome, zero_ok.value) == (PASS, 0.0)


def test_comparisons_with_the_stable_revision() -> None:
    canary, stable = windows(Traffic(ok=90, errors=10, latency=0.5), Traffic(ok=99, errors=1))
    ratio = evaluate(metric(query="latency_p95_ratio", max=2.0), canary, stable, 0.0)
    assert ratio.outcome is FAIL
    assert ratio.value is not None
    assert ratio.value > 20
    assert "vs revision 3" in ratio.message
    assert "> max 2" in ratio.message
    diff = evaluate(metric(query="error_rate_diff", max=0.05), canary, stable, 0.0)
    assert diff.value == pytest.approx(0.09)
    assert diff.outcome is FAIL
    better = evaluate(metric(query="success_rate_diff", min=-0.1), canary, stable, 0.0)
    assert better.value == pytest.approx(-0.09)
    assert better.outcome is PASS


def test_latency_ratios_ignore_differences_below_the_floor() -> None:
    # 4ms against 0.6ms is a 6.7x ratio made of scheduling noise on a busy machine
    canary, stable = windows(Traffic(ok=50, latency=0.004), Traffic(ok=50, latency=0.0006))
    default = evaluate(metric(query="latency_p95_ratio", max=3.0), canary, stable, 0.0)
    assert (default.outcome, default.value) == (PASS, 1.0)
    assert default.message.endswith(", floor 5ms)")
    exact = evaluate(metric(query="latency_p95_ratio", max=3.0, floor="0s"), canary, stable, 0.0)
    assert exact.outcome is FAIL
    assert exact.value is not None
    assert exact.value > 3
    low = evaluate(metric(query="latency_p95_ratio", max=3.0, floor="1ms"), canary, stable, 0.0)
    assert low.value is not None
    assert 3 < low.value < 5  # the canary above the floor, the stable one raised to it
    assert low.outcome is FAIL


def test_comparison_without_stable_data_is_inconclusive() -> None:
    canary, idle_stable = windows(Traffic(ok=10))
    q = metric(query="latency_p99_ratio", max=2.0)
    assert evaluate(q, canary, idle_stable, 0.0).message == (
        "latency_p99_ratio: no requests from stable revision 3 in the window: inconclusive"
    )
    alone = evaluate(q, canary, None, 0.0)
    assert alone.outcome is INC
    assert "no stable revision" in alone.message


def test_unknown_query_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown builtin query 'p95'; expected one of: .*"):
        check_query("p95")
    canary, _ = windows(Traffic(ok=1))
    with pytest.raises(ValueError, match="latency_p50_ratio"):
        evaluate(metric(query="nope"), canary, None, 0.0)
    assert {"success_rate", "latency_p90_ratio", "success_rate_diff"} <= set(BUILTIN_QUERIES)
    assert len(BUILTIN_QUERIES) == 14


def test_threshold_messages_tell_close_values_apart_and_handle_nan() -> None:
    close = judge(metric(min=0.99), "x", 0.98999, 0.0)
    assert close.outcome is FAIL
    assert close.message == "x 0.98999 < min 0.99"
    both = judge(metric(min=1, max=3), "x", 2.0, 0.0)
    assert both.message == "x 2 >= min 1 and <= max 3"
    assert judge(metric(max=3), "x", float("nan"), 0.0).outcome is INC
    assert judge(metric(max=3), "x", float("inf"), 0.0).message == "x +Inf > max 3"
    assert (fmt(0.0004, "s"), fmt(2.5, "s"), fmt(1402.0)) == ("0.4ms", "2.5s", "1402")


def _restarts(before: int, after: int, elapsed: float = 30.0) -> Window:
    old = {"revisions": {}, "restarts": {"4": before}}
    return Window.between(4, old, {"revisions": {}, "restarts": {"4": after}}, elapsed)


def test_crash_rate_is_restarts_per_minute_and_needs_no_requests() -> None:
    got = evaluate(metric(query="crash_rate", max=4), _restarts(1, 3), None, 0.0)
    assert got.outcome is PASS
    assert got.value == pytest.approx(4.0)  # 2 restarts in half a minute
    assert got.message == "crash_rate 4 <= max 4 (2 restarts in 30s)"


def test_crash_rate_above_max_fails() -> None:
    got = evaluate(metric(query="crash_rate", max=1), _restarts(0, 3, 60.0), None, 0.0)
    assert got.outcome is FAIL
    assert got.value == pytest.approx(3.0)
    assert got.message == "crash_rate 3 > max 1 (3 restarts in 60s)"


def test_crash_rate_counts_requests_only_when_min_requests_says_so() -> None:
    quiet = _restarts(0, 0)
    assert evaluate(metric(query="crash_rate", max=1), quiet, None, 0.0).outcome is PASS
    asked = evaluate(metric(query="crash_rate", max=1, min_requests=5), quiet, None, 0.0)
    assert asked.outcome is INC
    assert asked.message == "no requests from revision 4 in the window: inconclusive"


def test_a_latency_needs_min_requests_latencies_not_only_requests() -> None:
    """The haproxy engine measures a sample of requests (`proxy.log_sample`): 200 requests with
    4 latencies measured is not enough for min_requests 20 (inconclusive, never judged);
    counts still come from every request."""
    full, _ = windows(Traffic(ok=200, latency=0.4))
    sampled = Window(
        full.revision, full.requests, full.errors, full.aborted, full.elapsed,
        tuple(c // 50 for c in full.latency_counts),
    )  # fmt: skip
    assert (full.latency_samples, sampled.latency_samples) == (200, 4)
    need20 = metric(query="latency_p95", max="300ms", min_requests=20)
    assert evaluate(need20, full, None, 0.0).outcome is FAIL
    got = evaluate(need20, sampled, None, 0.0)
    assert got.outcome is INC
    assert got.message == (
        "not enough samples: 4 latencies measured of 200 requests from revision 4 in the "
        "window (min_requests 20; the haproxy engine measures a sample, "
        "proxy.log_sample): inconclusive"
    )
    ratio = metric(query="latency_p95_ratio", max=1.5, min_requests=20)
    assert evaluate(ratio, sampled, full, 0.0).outcome is INC
    counted = metric(query="success_rate", min=0.99, min_requests=20)
    assert evaluate(counted, sampled, None, 0.0).outcome is PASS  # counts: every request
    assert evaluate(metric(query="latency_p95", max="300ms"), sampled, None, 0.0).outcome is FAIL
