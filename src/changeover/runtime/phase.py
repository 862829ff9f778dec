"""The application's lifecycle phases, the events that move them, and the one table.

Invariant: the phase changes only through `TABLE.transition(phase, event)`, so the
runtime can never go back from draining to serving, nor reach stopped without stopping.
A phase that no longer takes `stop-asked` is draining (`draining` reads the table).
"""

from __future__ import annotations

import enum

from changeover.machine import Table


class Phase(enum.Enum):
    STARTING = "starting"  # process up, lifespan startup not finished: not ready
    SERVING = "serving"  # ready for traffic
    DRAINING = "draining"  # stop asked: not ready, in-flight requests finishing
    STOPPING = "stopping"  # server released: background work and hooks winding down
    STOPPED = "stopped"  # terminal: the exit code is decided

    def __repr__(self) -> str:
        return f"<Phase {self.value}>"

    @property
    def ready(self) -> bool:
        """Whether readiness may pass at all (registered checks decide the rest)."""
        return self is Phase.SERVING

    @property
    def draining(self) -> bool:
        """Whether a stop has been asked: responses carry `Connection: close`."""
        return not TABLE.can(self, PhaseEvent.STOP_ASKED)


class PhaseEvent(enum.Enum):
    """What happened to the process; the table turns it into the next phase."""

    STARTUP_FINISHED = "startup-finished"  # lifespan startup done (or nothing to start)
    STOP_ASKED = "stop-asked"  # a signal or `stop()`: begin the drain
    RELEASED = "released"  # the server was told to stop accepting and shut down
    FINISHED = "finished"  # background work and hooks are done: the exit code is known

    def __repr__(self) -> str:
        return f"<PhaseEvent {self.value}>"


_P, _E = Phase, PhaseEvent
TABLE: Table[Phase, PhaseEvent] = Table(
    "lifecycle",
    Phase,
    {
        _P.STARTING: {_E.STARTUP_FINISHED: _P.SERVING, _E.STOP_ASKED: _P.DRAINING},
        _P.SERVING: {_E.STOP_ASKED: _P.DRAINING},
        _P.DRAINING: {_E.RELEASED: _P.STOPPING},
        _P.STOPPING: {_E.RELEASED: _P.STOPPING, _E.FINISHED: _P.STOPPED},  # released twice
        _P.STOPPED: {},
    },
)
