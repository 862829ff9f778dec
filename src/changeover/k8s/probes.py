"""Probes, one to one: startup, readiness and liveness keep their path, period, timeout,
initial delay and thresholds.

Invariant: a probe fails no sooner in the cluster than locally: durations are rounded up
to the whole seconds Kubernetes takes (at least 1 s for period and timeout), thresholds
are kept; only a startup probe's failure threshold is scaled when its period is rounded,
so the time a replica has to boot (period x failure_threshold) stays the spec's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from changeover.spec.models import Probe


@dataclass(frozen=True)
class Mapped:
    body: dict[str, Any]
    rounded: list[str]  # what was rounded, said for the report


def probe(kind: str, p: Probe, port: str) -> Mapped:
    period, timeout = _whole(p.period, 1), _whole(p.timeout, 1)
    delay = _whole(p.initial_delay, 0)
    failures = p.failure_threshold
    rounded = [
        f"{key} {p_value:g}s -> {k_value}s"
        for key, p_value, k_value in (
            ("period", p.period, period),
            ("timeout", p.timeout, timeout),
            ("initial_delay", p.initial_delay, delay),
        )
        if p_value != k_value
    ]
    if kind == "startup" and period != p.period:
        failures = max(1, math.ceil(p.period * p.failure_threshold / period - 1e-9))
        rounded.append(
            f"failure_threshold {p.failure_threshold} -> {failures} (boot budget "
            f"{p.period * p.failure_threshold:g}s kept)"
        )
    body = {
        "httpGet": {"path": p.path, "port": port},
        "initialDelaySeconds": delay,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "successThreshold": p.success_threshold,
        "failureThreshold": failures,
    }
    return Mapped(body, rounded)


def _whole(seconds: float, least: int) -> int:
    return max(least, math.ceil(seconds - 1e-9))
