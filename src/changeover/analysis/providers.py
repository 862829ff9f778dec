"""One entry point for every provider: `measure(metric, context)` never raises.

Invariant: whatever a provider does (hangs, raises, is cut by the timeout), `measure`
returns exactly one `Measurement` for the metric within `context.timeout` (plus the time
to kill a command), so a round always has one measurement per metric. Only cancellation
propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from changeover.analysis import builtin, command, prometheus, web
from changeover.analysis.jsonpath import JsonPathError, parse_path
from changeover.analysis.model import Measurement, Outcome, one_line
from changeover.analysis.verdict import fmt, measurement, where
from changeover.analysis.window import Window

if TYPE_CHECKING:  # runtime import would cycle: spec.rules imports analysis.builtin
    from changeover.spec.models import AnalysisTemplate, Metric


DEFAULT_TIMEOUT = 10.0
_NEEDS = {
    "builtin": ("query",),
    "prometheus": ("address", "query"),
    "web": ("url",),
    "command": ("command",),
}


@dataclass(frozen=True)
class Context:
    """What one round gives every metric: the windows, the time, and the effects."""

    canary: Window
    baseline: Window | None
    at: float  # wall-clock time of the round
    http: httpx.AsyncClient | None = None
    workdir: str | Path = "."
    env: Mapping[str, str] | None = None  # the command's whole environment; None inherits
    timeout: float = DEFAULT_TIMEOUT


def metric_problems(metric: Metric) -> list[tuple[str, str]]:
    """(key, message) for each setting of `metric` its provider cannot work with."""
    out = [
        (key, f"required for provider {metric.provider!r}")
        for key in _NEEDS[metric.provider]
        if getattr(metric, key) is None
    ]
    if metric.provider == "builtin" and metric.query is not None:
        try:
            builtin.check_query(metric.query)
        except ValueError as exc:
            out.append(("query", str(exc)))
    if metric.provider == "web" and metric.json_path is not None:
        try:
            parse_path(metric.json_path)
        except JsonPathError as exc:
            out.append(("json_path", str(exc)))
    return out


def check_template(template: AnalysisTemplate) -> None:
    """Raise ValueError listing every `metrics[i].key: problem` of the template."""
    problems = [
        f"metrics[{i}].{key}: {message}"
        for i, metric in enumerate(template.metrics)
        for key, message in metric_problems(metric)
    ]
    if problems:
        raise ValueError("invalid analysis template: " + "; ".join(problems))


async def measure(metric: Metric, context: Context) -> Measurement:
    """Measure `metric` once; failures of any kind become an error measurement."""
    try:
        async with asyncio.timeout(context.timeout):
            return await _dispatch(metric, context)
    except TimeoutError:
        text = f"{where(metric)}: timed out after {fmt(context.timeout, 's')}"
        if metric.provider == "prometheus":  # unreachable, as prometheus.py rules
            return measurement(
                metric, Outcome.INCONCLUSIVE, context.at, f"{text}: no measurement, inconclusive"
            )
    except Exception as exc:  # a provider bug must cost one error measurement, not the run
        text = f"{where(metric)}: {type(exc).__name__}: {one_line(str(exc), 200)}"
    return measurement(metric, Outcome.ERROR, context.at, text)


async def _dispatch(metric: Metric, c: Context) -> Measurement:
    if metric.provider == "builtin":
        return builtin.evaluate(metric, c.canary, c.baseline, c.at)
    if metric.provider == "command":
        return await command.measure(metric, c.at, c.workdir, c.env)
    if c.http is None:
        raise ValueError(f"provider {metric.provider!r} needs an HTTP client")
    if metric.provider == "prometheus":
        return await prometheus.measure(metric, c.http, c.at, c.timeout)
    return await web.measure(metric, c.http, c.at, c.timeout)
