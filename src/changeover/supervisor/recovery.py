"""After an agent crash: the fate of each replica the dead agent left running, decided from
its record and from what is observed now (pure: no process, socket or clock is touched).

Invariant: a recorded replica is adopted only if it belongs to the stable revision, its
pid still names the very process recorded (create_time), its port is known and its probe
passed; a pid the kernel has reused is never touched, neither adopted nor signalled; every
record gets exactly one fate, and a probe gate always decides by its deadline.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from changeover.spec.models import Probe, Probes
from changeover.supervisor.adopt import Observed
from changeover.supervisor.orphans import CREATE_TIME_TOLERANCE
from changeover.supervisor.probes import ProbeTracker, Verdict


class Fate(enum.Enum):
    ADOPT = "adopt"  # serves on: the new agent routes to it as it is
    REPLACE = "replace"  # stable revision but unfit: stopped; the restore starts another
    STOP = "stop"  # another revision (an interrupted rollout, a warm blue-green): stopped
    GONE = "gone"  # exited since it was recorded: only the record goes
    REUSED = "reused"  # its pid names another process now: the record goes, nothing else

    def __repr__(self) -> str:
        return f"<Fate {self.value}>"


@dataclass(frozen=True)
class Recorded:
    """One replica as the dead agent recorded it in the store."""

    replica_id: str
    revision: int
    pid: int
    pgid: int
    create_time: float
    port: int | None  # None: recorded before ports were (such a replica is replaced)


@dataclass(frozen=True)
class Judgement:
    record: Recorded
    fate: Fate
    reason: str


def triage(record: Recorded, observed: Observed | None, stable: int | None) -> Judgement | None:
    """The fate that needs no probe, or None: the replica is a candidate to probe."""

    def judged(fate: Fate, reason: str) -> Judgement:
        return Judgement(record, fate, reason)

    if observed is None or observed.zombie:
        return judged(Fate.GONE, "it had exited")
    if abs(observed.create_time - record.create_time) > CREATE_TIME_TOLERANCE:
        return judged(Fate.REUSED, f"pid {record.pid} now names another process")
    if stable is None:
        return judged(Fate.STOP, "there is no stable revision yet")
    if record.revision != stable:
        return judged(Fate.STOP, f"revision {record.revision} is not the stable revision")
    if record.port is None:
        return judged(Fate.REPLACE, "its port was not recorded")
    return None


def adoption_probe(probes: Probes) -> Probe | None:
    """The probe a survivor must pass: readiness (it gates routing), else startup, else
    liveness; None when the revision has no probe (then running is enough)."""
    return probes.readiness or probes.startup or probes.liveness


class ProbeGate:
    """Kubernetes counting of one probe on a survivor: adopt after `success_threshold`
    consecutive passes, replace after `failure_threshold` consecutive failures, or at the
    deadline (a probe that flaps would otherwise keep the agent from serving)."""

    def __init__(self, record: Recorded, probe: Probe, now: float) -> None:
        self.record = record
        self.probe = probe
        self._tracker = ProbeTracker(probe, passing=None)
        rounds = probe.success_threshold + probe.failure_threshold
        self.deadline = now + rounds * (probe.period + probe.timeout)
        self.judgement: Judgement | None = None

    def result(self, passed: bool, now: float) -> Judgement | None:
        """Count one probe result taken at `now`; the judgement once there is one."""
        if self.judgement is not None:
            return self.judgement
        verdict = self._tracker.record(passed)
        what = f"probe {self.probe.path}"
        if verdict is Verdict.PASS:
            self.judgement = Judgement(self.record, Fate.ADOPT, f"{what} passed")
        elif verdict is Verdict.FAIL:
            failures = self._tracker.failures
            self.judgement = Judgement(self.record, Fate.REPLACE, f"{what} failed {failures} times")
        elif now >= self.deadline:
            self.judgement = Judgement(self.record, Fate.REPLACE, f"{what} undecided in time")
        return self.judgement

    def wait(self, now: float) -> float:
        """Seconds until the next probe is due (never past the deadline)."""
        return max(0.0, min(self.probe.period, self.deadline - now))


def survivor_without_probe(record: Recorded) -> Judgement:
    return Judgement(record, Fate.ADOPT, "it runs (the revision has no probe)")


__all__ = [
    "Fate",
    "Judgement",
    "Observed",
    "ProbeGate",
    "Recorded",
    "adoption_probe",
    "survivor_without_probe",
    "triage",
]
