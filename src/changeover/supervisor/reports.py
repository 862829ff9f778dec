"""Probe failures in words, reported once rather than once per probe period.

Invariant: a probe's failure is reported (`reported` non-empty) only once the probe has
failed `failure_threshold` times in a row, when Kubernetes counts the probe as failed,
and stays reported until it has passed `success_threshold` times in a row; while
reported, its reason changes only to an answer the probe gave `failure_threshold` times
in a row. So however a probe flaps, what is reported changes at most once per
threshold's worth of results, and the events made of those changes cannot flood. A
failure below the threshold (a server still binding its port) is not reported. Pure:
outcomes in, words out.
"""

from __future__ import annotations

from collections.abc import Mapping

from changeover.spec.models import Probe
from changeover.supervisor.health import Kind
from changeover.supervisor.probes import ProbeOutcome, ProbeTracker, Verdict


class Streak:
    """One probe's results during one run of a process."""

    def __init__(self, kind: Kind, probe: Probe) -> None:
        self.what = f"{kind.value} GET {probe.path}"
        self.threshold = probe.failure_threshold
        # starts unknown: the first verdict, either way, needs its full threshold
        self._tracker = ProbeTracker(probe, passing=None)
        self.detail = ""  # what the latest failure saw
        self.repeats = 0  # how many times in a row the probe saw it, up to now
        self.reported = ""  # e.g. "readiness GET /readyz answered 503"; "" when not failing

    def record(self, outcome: ProbeOutcome) -> str:
        """The failure to show after `outcome`, with its count, while one is reported
        ("readiness GET /readyz answered 503 (5 times in a row)"); else ""."""
        verdict = self._tracker.record(outcome.ok)
        if outcome.ok:
            self.repeats = 0
            if verdict is Verdict.PASS:
                self.reported = ""
            return ""
        self.repeats = self.repeats + 1 if outcome.detail == self.detail else 1
        self.detail = outcome.detail
        if verdict is Verdict.FAIL or (self.reported and self.repeats >= self.threshold):
            self.reported = f"{self.what} {self.detail}"
        return f"{self.what} {self.detail} ({times(self.repeats)})" if self.reported else ""


class ProbeReports:
    """The streaks of every probe of one process."""

    def __init__(self, probes: Mapping[Kind, Probe]) -> None:
        self.streaks = {kind: Streak(kind, probe) for kind, probe in probes.items()}

    def record(self, kind: Kind, outcome: ProbeOutcome) -> str:
        return self.streaks[kind].record(outcome)

    @property
    def failing(self) -> str:
        """The failure reported now (startup, then readiness, then liveness); "" if none."""
        return next((s.reported for s in self.streaks.values() if s.reported), "")


def times(count: int) -> str:
    return "once" if count == 1 else f"{count} times in a row"
