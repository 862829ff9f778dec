"""Failure reasons name what the rollout waited for: the target replica that is not
ready and its last error (a probe failure with its count, or an exit), on a fake clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from changeover.rollout.bluegreen import BlueGreen, BlueGreenParams
from changeover.rollout.canary import Canary, CanaryParams
from changeover.rollout.decision import Decision
from changeover.rollout.observe import ReplicaObs, RevisionObs
from changeover.rollout.phase import Phase
from changeover.rollout.rolling import RollingParams, RollingUpdate
from changeover.rollout.steps import SetWeight
from changeover.rollout.strategy import Strategy
from changeover.supervisor.state import ReplicaState
from tests.helpers import FakeClock

S = ReplicaState
PROBE = "readiness GET /readyz answered 503 (60 times in a row)"
DEADLINE = 30.0


def stable(n: int = 2) -> RevisionObs:
    return RevisionObs(1, tuple(ReplicaObs(f"r1-{i + 1}", S.READY, -1e6, 0) for i in range(n)))


def target(*replicas: ReplicaObs) -> dict[int, RevisionObs]:
    return {1: stable(), 2: RevisionObs(2, replicas)}


def past_deadline(machine: Strategy, obs: dict[int, RevisionObs]) -> Decision:
    """Step on a fake clock until the progress deadline has passed; the failing decision."""
    clock = FakeClock(0.0)
    decision = machine.step(obs, clock(), {})
    while decision.phase is Phase.PROGRESSING:
        clock.advance(1.0)
        assert clock() <= DEADLINE + 1, "the deadline passed without a failure"
        decision = machine.step(obs, clock(), {})
    return decision


def rolling() -> Strategy:
    return RollingUpdate(1, 2, RollingParams(2, 1, 0, 0.0, DEADLINE), started_at=0.0)


def canary() -> Strategy:
    params = CanaryParams(2, 2, 0.0, DEADLINE, steps=(SetWeight(50),))
    return Canary(1, 2, params, started_at=0.0)


def blue_green() -> Strategy:
    return BlueGreen(1, 2, BlueGreenParams(2, 2, 0.0, DEADLINE), 0.0)


WAITED = {
    rolling: "progress deadline exceeded: no progress for 30s",
    canary: "progress deadline exceeded: replicas not available within 30s",
    blue_green: "progress deadline exceeded: replicas not available within 30s",
}


@pytest.mark.parametrize("make", list(WAITED))
def test_the_deadline_names_the_replica_it_waited_for_and_its_probe(
    make: Callable[[], Strategy],
) -> None:
    obs = target(ReplicaObs("r2-1", S.STARTING, None, 0, last_error=PROBE))
    decision = past_deadline(make(), obs)
    assert decision.phase is Phase.ROLLING_BACK
    assert decision.reason == f"{WAITED[make]}; r2-1 not ready: {PROBE}"
    assert f"rollout failed: {decision.reason}" in decision.events


@pytest.mark.parametrize("make", list(WAITED))
def test_the_first_replica_with_an_error_is_named_and_others_are_not(
    make: Callable[[], Strategy],
) -> None:
    obs = target(
        ReplicaObs("r2-1", S.READY, 0.0, 0, last_error="exited with code 1"),  # ready now
        ReplicaObs("r2-2", S.DRAINING, None, 0, last_error="stopping"),  # on its way out
        ReplicaObs("r2-3", S.STARTING, None, 0),  # says nothing yet
        ReplicaObs("r2-4", S.BACKOFF, None, 1, last_error="exited with code 3"),
        ReplicaObs("r2-5", S.NOT_READY, None, 0, last_error=PROBE),
    )
    decision = past_deadline(make(), obs)
    assert decision.reason == f"{WAITED[make]}; r2-4 not ready: exited with code 3"


@pytest.mark.parametrize("make", list(WAITED))
def test_without_a_known_error_the_reason_is_as_before(make: Callable[[], Strategy]) -> None:
    obs = target(ReplicaObs("r2-1", S.STARTING, None, 0))
    assert past_deadline(make(), obs).reason == WAITED[make]
