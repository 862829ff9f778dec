"""Builtin metrics: queries over the proxy's windows of the canary and the stable revision.

Invariant: pure and total over windows: a query either yields a judged value or an
inconclusive measurement that says which data was missing (fewer canary requests than
`min_requests`, default 1; a comparison without a stable revision or without stable
requests); only an unknown query raises, naming the valid ones. `crash_rate` (replica
restarts per minute) counts processes, not requests: it needs requests only when
`min_requests` says so. A latency query also needs `min_requests` latencies measured
(the haproxy engine measures a sample of the requests, `proxy.log_sample`: all of them
under 500 a second by default, about 500 a second above that, so a window may hold
fewer latencies than requests): fewer is inconclusive, never a pass or a failure. A
latency ratio raises both latencies to its floor (default `DEFAULT_FLOOR`) before
dividing: below it, differences are scheduling noise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from changeover.analysis.model import Measurement, Outcome
from changeover.analysis.verdict import fmt, judge, measurement
from changeover.analysis.window import Window
from changeover.spec import queries
from changeover.spec.queries import DEFAULT_FLOOR, check_query

if TYPE_CHECKING:
    from changeover.spec.models import Metric


_Of = Callable[[Window], float | None]
_PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


def _latency(q: float) -> _Of:
    return lambda w: w.latency(q)


# query -> (value of one window, unit of that value)
_SINGLE: dict[str, tuple[_Of, str]] = {
    "success_rate": (lambda w: w.success_rate, ""),
    "error_rate": (lambda w: w.error_rate, ""),
    "request_rate": (lambda w: w.request_rate, ""),
    **{f"latency_{p}": (_latency(q), "s") for p, q in _PERCENTILES.items()},
    "crash_rate": (lambda w: w.crash_rate, ""),
}
# query -> (value of one window, unit, combine(canary, stable))
_COMPARED: dict[str, tuple[_Of, str, Callable[[float, float], float | None]]] = {
    **{
        f"latency_{p}_ratio": (_latency(q), "s", lambda c, s: c / s if s > 0 else None)
        for p, q in _PERCENTILES.items()
    },
    "error_rate_diff": (lambda w: w.error_rate, "", lambda c, s: c - s),
    "success_rate_diff": (lambda w: w.success_rate, "", lambda c, s: c - s),
}
BUILTIN_QUERIES: tuple[str, ...] = (*_SINGLE, *_COMPARED)
if BUILTIN_QUERIES != queries.BUILTIN_QUERIES:  # the spec validates names with its own list
    raise ImportError("spec.queries and analysis.builtin name different builtin queries")
__all__ = ["BUILTIN_QUERIES", "check_query", "evaluate"]


def evaluate(metric: Metric, canary: Window, baseline: Window | None, at: float) -> Measurement:
    """Measure the builtin `metric` on the canary window (and the stable one to compare)."""
    query = check_query(metric.query)
    if query == "crash_rate" and metric.min_requests is None:
        detail = f"{canary.restarts} restarts in {canary.elapsed:.3g}s"
        return judge(metric, query, canary.crash_rate, at, detail=detail)
    need = 1 if metric.min_requests is None else metric.min_requests
    # with min_requests = 0, an idle canary still has a request rate (0), nothing else
    idle_ok = ("request_rate", "crash_rate")
    if canary.requests < need or (canary.requests == 0 and query not in idle_ok):
        return _too_few(metric, canary, need, at)
    if query.startswith("latency_") and canary.latency_samples < need:
        return _too_few_latencies(metric, canary, need, at)
    if query in _SINGLE:
        of, unit = _SINGLE[query]
        detail = f"{canary.requests} requests in {canary.elapsed:.3g}s"
        return judge(metric, query, of(canary), at, unit=unit, detail=detail)
    of, unit, combine = _COMPARED[query]
    if baseline is None or baseline.requests == 0:
        why = (
            "no stable revision to compare with"
            if baseline is None
            else f"no requests from stable revision {baseline.revision} in the window"
        )
        return measurement(metric, Outcome.INCONCLUSIVE, at, f"{query}: {why}: inconclusive")
    mine, theirs = of(canary), of(baseline)
    detail = (
        f"revision {canary.revision} {_show(mine, unit)} vs "
        f"revision {baseline.revision} {_show(theirs, unit)}"
    )
    if query.startswith("latency_") and mine is not None and theirs is not None:
        floor = DEFAULT_FLOOR if metric.floor is None else metric.floor
        mine, theirs = max(mine, floor), max(theirs, floor)
        detail += f", floor {fmt(floor, unit)}"
    value = None if mine is None or theirs is None else combine(mine, theirs)
    return judge(metric, query, value, at, detail=detail)


def _show(value: float | None, unit: str) -> str:
    return "no value" if value is None else fmt(value, unit)


def _too_few_latencies(metric: Metric, canary: Window, need: int, at: float) -> Measurement:
    text = (
        f"not enough samples: {canary.latency_samples} latencies measured of "
        f"{canary.requests} requests from revision {canary.revision} in the window "
        f"(min_requests {need}; the haproxy engine measures a sample, proxy.log_sample): "
        "inconclusive"
    )
    return measurement(metric, Outcome.INCONCLUSIVE, at, text)


def _too_few(metric: Metric, canary: Window, need: int, at: float) -> Measurement:
    rev = canary.revision
    if canary.requests == 0:
        text = f"no requests from revision {rev} in the window: inconclusive"
    else:
        text = (
            f"only {canary.requests} requests from revision {rev} in the window "
            f"(min_requests {need}): inconclusive"
        )
    return measurement(metric, Outcome.INCONCLUSIVE, at, text)
