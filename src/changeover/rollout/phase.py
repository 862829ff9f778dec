"""Rollout phases and the one table of legal moves between them.

Invariant: a rollout's phase only changes through `check_transition`, and terminal
phases (succeeded, failed, aborted, interrupted) have no outgoing moves, so a finished
rollout can never be resumed by accident. Canary and blue-green add steps inside
PROGRESSING, not new phases, so they reuse this table.
"""

from __future__ import annotations

import enum


class Phase(enum.Enum):
    PROGRESSING = "progressing"  # moving traffic/replicas towards the target
    PAUSED = "paused"  # reserved: waiting for a manual promote
    ROLLING_BACK = "rolling-back"  # target failed; restoring the stable revision
    SUCCEEDED = "succeeded"  # target fully available, stable scaled to zero
    FAILED = "failed"  # target failed and the stable revision is restored
    ABORTED = "aborted"  # reserved: stopped by an operator
    INTERRUPTED = "interrupted"  # the agent died mid-rollout; set on restart

    def __repr__(self) -> str:
        return f"<Phase {self.value}>"

    @property
    def terminal(self) -> bool:
        return not TRANSITIONS[self]

    @property
    def active(self) -> bool:
        return not self.terminal


_P = Phase
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    _P.PROGRESSING: frozenset(
        {_P.PAUSED, _P.ROLLING_BACK, _P.SUCCEEDED, _P.FAILED, _P.ABORTED, _P.INTERRUPTED}
    ),
    _P.PAUSED: frozenset({_P.PROGRESSING, _P.ROLLING_BACK, _P.ABORTED, _P.INTERRUPTED}),
    _P.ROLLING_BACK: frozenset({_P.FAILED, _P.ABORTED, _P.INTERRUPTED}),
    _P.SUCCEEDED: frozenset(),
    _P.FAILED: frozenset(),
    _P.ABORTED: frozenset(),
    _P.INTERRUPTED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A rollout was asked to move between two phases the table does not connect."""


def check_transition(old: Phase, new: Phase) -> Phase:
    """Return `new` if `old -> new` is legal, else raise IllegalTransition."""
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"rollout cannot go from {old.value} to {new.value}")
    return new
