"""Replica lifecycle states and the one table of legal transitions between them.

Invariant: a replica's state only changes through `check_transition`, so an illegal
move (for example `exited -> ready`) raises instead of silently corrupting routing.
"""

from __future__ import annotations

import enum


class ReplicaState(enum.Enum):
    STARTING = "starting"  # process spawned, startup probe (if any) not yet passed
    READY = "ready"  # readiness passing: routable
    NOT_READY = "not-ready"  # alive but readiness failing: not routable
    BACKOFF = "backoff"  # process exited; waiting before the next restart
    DRAINING = "draining"  # out of routing, waiting for in-flight requests
    STOPPING = "stopping"  # pre_stop / stop signal sent, waiting for exit
    EXITED = "exited"  # terminal: process gone and will not be restarted

    def __repr__(self) -> str:
        return f"<ReplicaState {self.value}>"

    @property
    def routable(self) -> bool:
        return self is ReplicaState.READY

    @property
    def terminating(self) -> bool:
        return self in (ReplicaState.DRAINING, ReplicaState.STOPPING, ReplicaState.EXITED)


_S = ReplicaState
TRANSITIONS: dict[ReplicaState, frozenset[ReplicaState]] = {
    _S.STARTING: frozenset(
        {_S.READY, _S.NOT_READY, _S.BACKOFF, _S.DRAINING, _S.STOPPING, _S.EXITED}
    ),
    _S.READY: frozenset({_S.NOT_READY, _S.BACKOFF, _S.DRAINING, _S.EXITED}),
    _S.NOT_READY: frozenset({_S.READY, _S.BACKOFF, _S.DRAINING, _S.EXITED}),
    _S.BACKOFF: frozenset({_S.STARTING, _S.EXITED}),
    _S.DRAINING: frozenset({_S.STOPPING, _S.EXITED}),
    _S.STOPPING: frozenset({_S.EXITED}),
    _S.EXITED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A replica was asked to move between two states the table does not connect."""


def check_transition(old: ReplicaState, new: ReplicaState) -> ReplicaState:
    """Return `new` if `old -> new` is legal, else raise IllegalTransition."""
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"replica cannot go from {old.value} to {new.value}")
    return new
