"""The sections of the verify report that restate its inputs: what was asked for (target,
release, how the rollout was followed) and the load's totals.

Invariant: each section is a plain JSON-ready dict whose keys are those documented in
docs/verify.md, in that order; keys are only ever added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from changeover.loadgen import Report
from changeover.loadgen.outcome import FAILURES


@dataclass(frozen=True, slots=True)
class Settings:
    """What was asked for: where the load went, how much, what was deployed, and how long
    verify waits for the rollout (`max_wait`, None: no limit) and whether it promotes it."""

    url: str
    rate: float
    connections: int
    requests: tuple[str, ...]
    warmup: float
    cooldown: float
    timeout: float
    version: str
    redeploy: bool
    strategy: str | None
    max_wait: float | None = None
    promote: bool = False


def load_dict(load: Report) -> dict[str, Any]:
    """The load's totals: every failure kind listed, zeros included."""
    return {
        "sent": load.sent,
        "ok": load.ok,
        "failed": load.failed,
        "in_flight": load.in_flight,
        "failures_by_kind": {kind.value: getattr(load, kind.value) for kind in FAILURES},
        "failures_dropped": load.failures_dropped,
        "status_codes": dict(load.status_codes),
        "late": load.late,
        "connections_opened": load.connections_opened,
        "elapsed": load.elapsed,
        "rps": load.rps,
    }


def target_dict(s: Settings) -> dict[str, Any]:
    return {
        "url": s.url,
        "rate": s.rate,
        "connections": s.connections,
        "requests": list(s.requests),
        "warmup": s.warmup,
        "cooldown": s.cooldown,
        "timeout": s.timeout,
    }


def release_dict(s: Settings) -> dict[str, Any]:
    return {"version": s.version, "redeploy": s.redeploy, "strategy": s.strategy}


def follow_dict(s: Settings) -> dict[str, Any]:
    return {"max_wait": s.max_wait, "promote": s.promote}
