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
from changeover.verify.actions import VerifyAction, aborted_by_verify
from changeover.verify.sections import (
    Settings,
    follow_dict,
    load_dict,
    release_dict,
    target_dict,
)
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
__all__ = ["SCHEMA", "Settings", "VerifyReport", "build_report", "load_dict"]


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
    actions: tuple[VerifyAction, ...] = ()

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
            "target": target_dict(self.settings),
            "release": release_dict(self.settings),
            "rollout": self.rollout,
            "load": load_dict(self.load),
            "windows": [self._window(w) for w in self.windows],
            "events": [self._event(e) for e in self.events],
            "failures": [asdict(f) for f in self.failures],
            "timeline": [{**asdict(r), "source": r.source.value} for r in self.timeline],
            "follow": follow_dict(self.settings),
            "actions": [a.to_dict(self.clock.from_wall(a.ts)) for a in self.actions],
            "aborted_by_verify": self._aborted(),
        }

    def _aborted(self) -> dict[str, Any] | None:
        abort = aborted_by_verify(self.actions)
        if abort is None:
            return None
        return {"after": abort.elapsed, "max_wait": self.settings.max_wait}

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
    actions: Sequence[VerifyAction] = (),
) -> VerifyReport:
    """Assemble the report of a finished run; `load_start` is the Unix time of load t=0;
    `actions`: what verify itself did to the rollout (shown on the timeline)."""
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
    abort = aborted_by_verify(actions)
    decision = decide(
        failed=load.failed,
        in_flight=load.in_flight,
        sent=load.sent,
        rollout_phase=str(rollout["phase"]),
        rollout_reason=str(rollout.get("reason") or ""),
        aborted_after=None if abort is None else abort.elapsed,
    )
    own = [a.as_event(i) for i, a in enumerate(actions)]
    shown = tuple(sorted([*ordered, *own], key=lambda e: (e.ts, e.id)))
    return VerifyReport(
        settings=settings,
        rollout=rollout,
        load=load,
        windows=tuple(window_stats(samples, (f.t for f in load.failures), bounds)),
        spans=spans,
        events=ordered,
        failures=failures,
        timeline=tuple(merge(shown, failures, clock)),
        decision=decision,
        clock=clock,
        actions=tuple(actions),
    )
