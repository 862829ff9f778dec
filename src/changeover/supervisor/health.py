"""Kubernetes probe gating for one run of a replica's process, as pure decisions.

Invariant: until the startup probe passes, only it counts; after that only readiness and
liveness count. A missing probe always succeeds, so a replica without a readiness probe
is ready as soon as it has started. Each action is returned once, when it becomes true.
"""

from __future__ import annotations

import enum

from changeover.spec.models import Probe, Probes
from changeover.supervisor.probes import ProbeTracker, Verdict


class Kind(enum.Enum):
    STARTUP = "startup"
    READINESS = "readiness"
    LIVENESS = "liveness"


class Action(enum.Enum):
    STARTED = "started"  # startup passed: run readiness and liveness probes from now on
    READY = "ready"
    NOT_READY = "not-ready"
    RESTART = "restart"  # kill the process and start it again; see `Health.reason`


# Status before the first result: startup unknown, readiness failing, liveness passing.
_INITIAL: dict[Kind, bool | None] = {Kind.STARTUP: None, Kind.READINESS: False, Kind.LIVENESS: True}


class Health:
    def __init__(self, probes: Probes) -> None:
        configured = {
            Kind.STARTUP: probes.startup,
            Kind.READINESS: probes.readiness,
            Kind.LIVENESS: probes.liveness,
        }
        self.probes: dict[Kind, Probe] = {k: p for k, p in configured.items() if p is not None}
        self.trackers = {k: ProbeTracker(p, _INITIAL[k]) for k, p in self.probes.items()}
        self.started = False
        self.reason = ""  # why RESTART was returned, e.g. "liveness probe failed 3 times"

    def begin(self) -> list[Action]:
        """Actions due as soon as the process runs (before any probe result)."""
        return [] if Kind.STARTUP in self.probes else self._start()

    def active(self) -> list[Kind]:
        """The probes that should be running now."""
        if not self.started:
            return [Kind.STARTUP]
        return [k for k in (Kind.READINESS, Kind.LIVENESS) if k in self.probes]

    def record(self, kind: Kind, success: bool) -> list[Action]:
        if kind not in self.active() or self.reason:
            return []  # a late result from a probe that no longer counts
        verdict = self.trackers[kind].record(success)
        if verdict is Verdict.FAIL and kind is not Kind.READINESS:
            self.reason = f"{kind.value} probe failed {self.trackers[kind].failures} times"
            return [Action.RESTART]
        if verdict is Verdict.PASS and kind is Kind.STARTUP:
            return self._start()
        if kind is Kind.READINESS and verdict is not None:
            return [Action.READY if verdict is Verdict.PASS else Action.NOT_READY]
        return []

    def _start(self) -> list[Action]:
        self.started = True
        return [Action.STARTED] if Kind.READINESS in self.probes else [Action.STARTED, Action.READY]
