"""Thresholds: how a value becomes a passed, failed or inconclusive `Measurement`.

Invariant: `min` and `max` pass inclusively (only `value < min` or `value > max` fails), a
missing or NaN value is inconclusive, never a pass, and a metric with neither bound
passes on any value (it is recorded for its value, as Argo Rollouts does).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from changeover.analysis.model import Measurement, Outcome, one_line

if TYPE_CHECKING:  # runtime import would cycle: spec.rules imports analysis.builtin
    from changeover.spec.models import Metric


def fmt(value: float, unit: str = "") -> str:
    """A short human form of `value`; unit "s" shows milliseconds below one second."""
    return _fmt(value, unit, 4)


def _fmt(value: float, unit: str, digits: int) -> str:
    if not math.isfinite(value):
        return {math.inf: "+Inf", -math.inf: "-Inf"}.get(value, "NaN")
    if unit == "s":
        ms = abs(value) < 1
        return f"{value * 1000 if ms else value:.{digits - 1}g}{'ms' if ms else 's'}"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def _pair(value: float, bound: float, unit: str) -> tuple[str, str]:
    """`value` and `bound` formatted with enough digits to tell them apart."""
    for digits in (4, 7, 12, 17):
        shown = _fmt(value, unit, digits), _fmt(bound, unit, digits)
        if shown[0] != shown[1] or value == bound:
            return shown
    return shown


def where(metric: Metric) -> str:
    """The provider and its target, as error messages start: `prometheus http://...:9090`."""
    if metric.provider == "command":
        return f"command {one_line(metric.command or '', 80)!r}"
    targets = {"prometheus": (metric.address or "").rstrip("/"), "web": metric.url}
    return f"{metric.provider} {one_line(targets.get(metric.provider) or metric.query or '', 80)}"


def measurement(
    metric: Metric, outcome: Outcome, at: float, message: str, value: float | None = None
) -> Measurement:
    return Measurement(metric.name, outcome, value, at, message)


def judge(
    metric: Metric, label: str, value: float | None, at: float, *, unit: str = "", detail: str = ""
) -> Measurement:
    """Compare `value` with the metric's bounds; `detail` is appended in parentheses."""
    tail = f" ({detail})" if detail else ""
    if value is None or math.isnan(value):
        return measurement(metric, Outcome.INCONCLUSIVE, at, f"{label} has no value{tail}", value)
    lo, hi = metric.min, metric.max
    if lo is not None and value < lo:
        shown, limit = _pair(value, lo, unit)
        return measurement(
            metric, Outcome.FAILED, at, f"{label} {shown} < min {limit}{tail}", value
        )
    if hi is not None and value > hi:
        shown, limit = _pair(value, hi, unit)
        return measurement(
            metric, Outcome.FAILED, at, f"{label} {shown} > max {limit}{tail}", value
        )
    bounds = [f"{op} {fmt(b, unit)}" for op, b in ((">= min", lo), ("<= max", hi)) if b is not None]
    within = " and ".join(bounds) if bounds else "(no threshold)"
    text = f"{label} {fmt(value, unit)} {within}{tail}"
    return measurement(metric, Outcome.PASSED, at, text, value)
