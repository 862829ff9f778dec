"""The fate of each replica a crashed agent left running: adopt, replace, stop or forget,
decided from its record, an observation of its pid and its probe results (pure)."""

from __future__ import annotations

import pytest

from changeover.spec.models import Probe, Probes
from changeover.supervisor.adopt import Observed
from changeover.supervisor.recovery import (
    Fate,
    ProbeGate,
    Recorded,
    adoption_probe,
    survivor_without_probe,
    triage,
)
from tests.helpers import FakeClock

CREATED = 1_700_000_000.0


def rec(rid: str = "r2-1", *, port: int | None = 40_001) -> Recorded:
    revision = int(rid[1:].split("-")[0])
    return Recorded(rid, revision, 4_000_001, 4_000_001, CREATED, port)


def alive(created: float = CREATED, *, zombie: bool = False) -> Observed:
    return Observed(created, zombie)


@pytest.mark.parametrize(
    ("record", "observed", "stable", "fate", "reason"),
    [
        (rec(), None, 2, Fate.GONE, "it had exited"),
        (rec(), alive(zombie=True), 2, Fate.GONE, "it had exited"),
        (rec(), alive(CREATED + 60), 2, Fate.REUSED, "pid 4000001 now names another process"),
        # a reused pid is never touched, whatever revision it was recorded for
        (rec("r1-1"), alive(CREATED - 60), 2, Fate.REUSED, "now names another process"),
        (rec("r3-1"), alive(), 2, Fate.STOP, "revision 3 is not the stable revision"),
        (rec("r1-2"), alive(), 2, Fate.STOP, "revision 1 is not the stable revision"),
        (rec(), alive(), None, Fate.STOP, "there is no stable revision yet"),
        (rec(port=None), alive(), 2, Fate.REPLACE, "its port was not recorded"),
    ],
)
def test_triage_decides_without_a_probe(
    record: Recorded, observed: Observed | None, stable: int | None, fate: Fate, reason: str
) -> None:
    judged = triage(record, observed, stable)
    assert judged is not None
    assert judged.fate is fate
    assert reason in judged.reason
    assert judged.record == record


def test_a_live_replica_of_the_stable_revision_is_a_candidate_to_probe() -> None:
    # psutil's create_time may drift by up to a second: still the same process
    assert triage(rec(), alive(CREATED + 0.9), 2) is None
    assert triage(rec(), alive(CREATED - 0.9), 2) is None


def test_the_probe_to_pass_is_readiness_then_startup_then_liveness() -> None:
    ready, start, live = Probe(path="/ready"), Probe(path="/start"), Probe(path="/live")
    assert adoption_probe(Probes(startup=start, readiness=ready, liveness=live)) is ready
    assert adoption_probe(Probes(startup=start, liveness=live)) is start
    assert adoption_probe(Probes(liveness=live)) is live
    assert adoption_probe(Probes()) is None
    assert survivor_without_probe(rec()).fate is Fate.ADOPT


def gate(clock: FakeClock, **kw: object) -> ProbeGate:
    probe = Probe(path="/readyz", **{"period": "1s", "timeout": "1s", **kw})
    return ProbeGate(rec(), probe, clock())


def test_one_pass_adopts_at_once() -> None:
    clock = FakeClock()
    judged = gate(clock).result(True, clock())
    assert judged is not None
    assert (judged.fate, judged.reason) == (Fate.ADOPT, "probe /readyz passed")


def test_consecutive_failures_up_to_the_threshold_replace() -> None:
    clock = FakeClock()
    g = gate(clock, failure_threshold=3)
    for _ in range(2):
        assert g.result(False, clock()) is None
        assert g.wait(clock()) == 1.0  # the next probe one period later
        clock.advance(1.0)
    judged = g.result(False, clock())
    assert judged is not None
    assert (judged.fate, judged.reason) == (Fate.REPLACE, "probe /readyz failed 3 times")
    assert g.result(True, clock()) is judged  # decided once, for good


def test_success_threshold_counts_consecutive_passes() -> None:
    clock = FakeClock()
    g = gate(clock, success_threshold=2, failure_threshold=3)
    assert g.result(True, clock()) is None
    assert g.result(False, clock()) is None  # the count starts over
    assert g.result(True, clock()) is None
    judged = g.result(True, clock())
    assert judged is not None
    assert judged.fate is Fate.ADOPT


def test_a_flapping_probe_is_replaced_at_the_deadline() -> None:
    clock = FakeClock()
    g = gate(clock, success_threshold=3, failure_threshold=3)
    # (3 + 3) rounds of period + timeout: 12 s
    assert g.deadline == clock() + 12.0
    results = [True, False] * 5
    for passed in results:
        assert g.result(passed, clock()) is None
        clock.advance(1.0)
    assert g.wait(clock()) == 1.0
    clock.advance(2.0)  # now at the deadline
    assert g.wait(clock()) == 0.0
    judged = g.result(True, clock())
    assert judged is not None
    assert (judged.fate, judged.reason) == (Fate.REPLACE, "probe /readyz undecided in time")
