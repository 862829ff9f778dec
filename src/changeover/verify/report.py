"""The verify report: the load's counts, the rollout, the windows, the timeline, the verdict.

Invariant: a `VerifyReport` is built only from finished inputs (a final load report and a
finished rollout) by pure functions, and `to_dict` emits exactly the stable shape
documented in docs/verify.md (fields are only ever added); all times in it are seconds
since the rollout started.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from changeover.loadgen import Report
from changeover.loadgen.outcome import FAILURES
from changeover.verify.timeline import (
    Clock,
    RolloutEvent,
    TimedFailure,
    TimelineRow,
    merge,
    place_failures,
)
from changeover.verify.verdict import Decision, decide
from changeover.verify.windows import Bounds, Samples, Window, WindowStats, window_stats

SCHEMA = 1


@dataclass(frozen=True, slots=True)
class Settings:
    """What was asked for: where the load went, how much, and what was deployed."""

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


@dataclass(frozen=True, slots=True)
class VerifyReport:
    settings: Settings
    rollout: dict[str, Any]
    load: Report
    windows: tuple[WindowStats, ...]
    spans: dict[Window, tuple[float, float]]
    events: tuple[RolloutEvent, ...]
    failures: tuple[TimedFailure, ...]
    timeline: tuple[TimelineRow, ...]
    decision: Decision
    clock: Clock

    @property
    def exit_code(self) -> int:
        return self.decision.verdict.exit_code

    def to_dict(self) -> dict[str, Any]:
        verdict = self.decision.verdict
        return {
            "schema": SCHEMA,
            "verdict": verdict.value,
            "passed": verdict.exit_code == 0,
            "exit_code": verdict.exit_code,
            "reasons": list(self.decision.reasons),
            "target": _target(self.settings),
            "release": _release(self.settings),
            "rollout": self.rollout,
            "load": load_dict(self.load),
            "windows": [self._window(w) for w in self.windows],
            "events": [self._event(e) for e in self.events],
            "failures": [asdict(f) for f in self.failures],
            "timeline": [{**asdict(r), "source": r.source.value} for r in self.timeline],
        }

    def _window(self, stats: WindowStats) -> dict[str, Any]:
        start, end = self.spans[stats.window]
        latency = {"p50": stats.p50, "p90": stats.p90, "p99": stats.p99, "max": stats.max}
        return {
            "window": stats.window.value,
            "start": start,
            "end": end,
            "requests": stats.requests,
            "ok": stats.ok,
            "failed": stats.failed,
            "latency": latency,
        }

    def _event(self, event: RolloutEvent) -> dict[str, Any]:
        t = self.clock.from_wall(event.ts)
        return {"id": event.id, "t": t, "kind": event.kind, "message": event.message}


def build_report(
    settings: Settings,
    rollout: dict[str, Any],
    events: Sequence[RolloutEvent],
    load: Report,
    samples: Samples,
    load_start: float,
) -> VerifyReport:
    """Assemble the report of a finished run; `load_start` is the Unix time of load t=0."""
    started, finished = float(rollout["started_at"]), rollout["finished_at"]
    if finished is None:
        raise ValueError(f"rollout {rollout['id']} has not finished: no report yet")
    clock = Clock(load_start, started)
    ordered = tuple(sorted(events, key=lambda e: (e.ts, e.id)))
    bounds = Bounds(started - load_start, float(finished) - load_start)
    failures = tuple(place_failures(load.failures, ordered, clock))
    end = clock.from_load(load.elapsed)
    during = bounds.end - bounds.start
    spans = {
        Window.BEFORE: (clock.from_load(0.0), 0.0),
        Window.DURING: (0.0, during),
        Window.AFTER: (during, max(during, end)),
    }
    decision = decide(
        failed=load.failed,
        in_flight=load.in_flight,
        sent=load.sent,
        rollout_phase=str(rollout["phase"]),
        rollout_reason=str(rollout.get("reason") or ""),
    )
    return VerifyReport(
        settings=settings,
        rollout=rollout,
        load=load,
        windows=tuple(window_stats(samples, (f.t for f in load.failures), bounds)),
        spans=spans,
        events=ordered,
        failures=failures,
        timeline=tuple(merge(ordered, failures, clock)),
        decision=decision,
        clock=clock,
    )


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


def _target(s: Settings) -> dict[str, Any]:
    return {
        "url": s.url,
        "rate": s.rate,
        "connections": s.connections,
        "requests": list(s.requests),
        "warmup": s.warmup,
        "cooldown": s.cooldown,
        "timeout": s.timeout,
    }


def _release(s: Settings) -> dict[str, Any]:
    return {"version": s.version, "redeploy": s.redeploy, "strategy": s.strategy}
