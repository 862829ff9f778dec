"""Replica lifecycle states, the events that move them, and the one table that decides.

Invariant: a replica's state changes only through `TABLE.transition(state, event)`; the
table's entry is the next state, and an event the state does not take (for example
`became-ready` once `exited`) raises `IllegalTransition` instead of corrupting routing.
Only `became-ready` leads to READY, and every way out of service passes DRAINING or
BACKOFF (no process) before EXITED, which takes nothing.
"""

from __future__ import annotations

import enum

from changeover.machine import Table


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


class ReplicaEvent(enum.Enum):
    """What happened to a replica; the table turns it into the next state."""

    BECAME_READY = "became-ready"  # started and readiness passing (or adopted while routed)
    BECAME_UNREADY = "became-unready"  # readiness failed after the process was ready
    RESTART_ORDERED = "restart-ordered"  # a startup or liveness probe failed: stop it, restart
    RUN_ENDED = "run-ended"  # the process exited, was stopped for a restart, or never spawned
    BACKOFF_ELAPSED = "backoff-elapsed"  # the restart delay is over: spawn again
    TERMINATION_BEGAN = "termination-began"  # scaled down or stopped: out of routing for good
    DRAINED = "drained"  # in-flight requests done (or timed out), the process still runs
    STOPPED = "stopped"  # nothing is left of the process and its socket is closed

    def __repr__(self) -> str:
        return f"<ReplicaEvent {self.value}>"


_S, _E = ReplicaState, ReplicaEvent
_RUNNING = {  # while a process runs (or is being spawned)
    _E.RUN_ENDED: _S.BACKOFF,
    _E.TERMINATION_BEGAN: _S.DRAINING,
}
TABLE: Table[ReplicaState, ReplicaEvent] = Table(
    "replica",
    ReplicaState,
    {
        # A failed startup or liveness probe takes a ready replica out of routing while
        # its process is stopped; one that never got ready stays STARTING.
        _S.STARTING: {_E.BECAME_READY: _S.READY, _E.RESTART_ORDERED: _S.STARTING, **_RUNNING},
        _S.READY: {_E.BECAME_UNREADY: _S.NOT_READY, _E.RESTART_ORDERED: _S.NOT_READY, **_RUNNING},
        _S.NOT_READY: {_E.BECAME_READY: _S.READY, _E.RESTART_ORDERED: _S.NOT_READY, **_RUNNING},
        # No process to drain or stop: termination goes straight on to EXITED.
        _S.BACKOFF: {
            _E.BACKOFF_ELAPSED: _S.STARTING,
            _E.TERMINATION_BEGAN: _S.BACKOFF,
            _E.STOPPED: _S.EXITED,
        },
        # The process may exit on its own while draining: then nothing is left to stop.
        _S.DRAINING: {_E.DRAINED: _S.STOPPING, _E.STOPPED: _S.EXITED},
        _S.STOPPING: {_E.STOPPED: _S.EXITED},
        _S.EXITED: {},
    },
)
