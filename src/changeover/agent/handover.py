"""The old agent's side of a handover, as a pure state machine with an injected clock.

Invariant: the stage changes only through `TABLE`; at most one handover runs at a time;
the old agent stops serving only after the new agent said it serves (HANDED_OVER), and a
new agent that exits, says something else, or stays silent past the deadline is killed
while the old one keeps serving.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from changeover.machine import Table
from changeover.supervisor.state import ReplicaState


class Stage(enum.Enum):
    IDLE = "idle"
    STARTING = "starting"  # the new agent runs; the old one still serves alone or both do
    HANDED_OVER = "handed-over"  # terminal: the old agent drains and exits
    FAILED = "failed"  # the new agent is gone; the old one serves on

    def __repr__(self) -> str:
        return f"<Stage {self.value}>"


class StageEvent(enum.Enum):
    """What the new agent did; the table turns it into the next stage."""

    NEW_STARTED = "new-started"  # spawned with the manifest
    NEW_READY = "new-ready"  # it said `ready <pid>`: it serves
    NEW_FAILED = "new-failed"  # it exited, said something else, or stayed silent too long

    def __repr__(self) -> str:
        return f"<StageEvent {self.value}>"


TABLE: Table[Stage, StageEvent] = Table(
    "handover",
    Stage,
    {
        Stage.IDLE: {StageEvent.NEW_STARTED: Stage.STARTING},
        Stage.STARTING: {
            StageEvent.NEW_READY: Stage.HANDED_OVER,
            StageEvent.NEW_FAILED: Stage.FAILED,
        },
        Stage.HANDED_OVER: {},
        Stage.FAILED: {StageEvent.NEW_STARTED: Stage.STARTING},  # a failed handover may be retried
    },
)


class Action(enum.Enum):
    WAIT = "wait"
    KILL_NEW = "kill-new"  # and keep serving
    FORGET_NEW = "forget-new"  # it already exited: reap it and keep serving
    STEP_DOWN = "step-down"  # stop accepting, drain, exit without stopping replicas

    def __repr__(self) -> str:
        return f"<Action {self.value}>"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""


WAIT = Decision(Action.WAIT)


class Refused(Exception):
    """A handover is not possible now (the API answers 409)."""


def refusal(
    *, stage: Stage, rollout: str | None, lingering: Iterable[int], states: Iterable[ReplicaState]
) -> str | None:
    """Why a handover cannot start now, or None. `rollout` describes the active one."""
    if stage is Stage.STARTING:
        return "a reload is already in progress"
    if stage is Stage.HANDED_OVER:
        return "this agent has already handed over; retry against the new agent"
    if rollout is not None:
        return f"{rollout} is in progress; reload when it has finished"
    warm = sorted(lingering)
    if warm:
        return f"revision {warm[0]} is kept warm after a blue-green switch; reload after that"
    if any(s in _STOPPING for s in states):
        return "replicas are still being stopped; reload when they are gone"
    return None


_STOPPING = frozenset({ReplicaState.DRAINING, ReplicaState.STOPPING})


class Handover:
    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"handover timeout must be > 0 seconds, got {timeout}")
        self.timeout = timeout
        self.stage = Stage.IDLE
        self.deadline = 0.0
        self.new_pid: int | None = None

    def start(self, now: float, new_pid: int) -> None:
        self._move(StageEvent.NEW_STARTED)
        self.deadline, self.new_pid = now + self.timeout, new_pid

    def message(self, line: str) -> Decision:
        """A line from the new agent: `ready <pid>` is the only good one."""
        if self.stage is not Stage.STARTING:
            return WAIT
        if line.strip() == f"ready {self.new_pid}":
            self._move(StageEvent.NEW_READY)
            return Decision(Action.STEP_DOWN)
        return self._fail(Action.KILL_NEW, f"the new agent said {line.strip()[:80]!r}")

    def exited(self, code: int | None) -> Decision:
        """The new agent's channel closed or its process ended."""
        if self.stage is not Stage.STARTING:
            return WAIT
        how = "its channel closed" if code is None else f"it exited with code {code}"
        action = Action.KILL_NEW if code is None else Action.FORGET_NEW
        return self._fail(action, f"the new agent (pid {self.new_pid}) failed: {how}")

    def tick(self, now: float) -> Decision:
        if self.stage is not Stage.STARTING or now < self.deadline:
            return WAIT
        reason = f"the new agent (pid {self.new_pid}) was not ready within {self.timeout:g}s"
        return self._fail(Action.KILL_NEW, reason)

    def _fail(self, action: Action, reason: str) -> Decision:
        self._move(StageEvent.NEW_FAILED)
        return Decision(action, reason)

    def _move(self, event: StageEvent) -> None:
        self.stage = TABLE.transition(self.stage, event)
