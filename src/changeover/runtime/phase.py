"""The application's lifecycle phases and the one table of legal moves between them.

Invariant: the phase only changes through `check_move`, so the runtime can never go back
from draining to serving, nor skip from starting straight to stopped without stopping.
"""

from __future__ import annotations

import enum


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
        return self in (Phase.DRAINING, Phase.STOPPING, Phase.STOPPED)


_P = Phase
MOVES: dict[Phase, frozenset[Phase]] = {
    _P.STARTING: frozenset({_P.SERVING, _P.DRAINING}),
    _P.SERVING: frozenset({_P.DRAINING}),
    _P.DRAINING: frozenset({_P.STOPPING}),
    _P.STOPPING: frozenset({_P.STOPPED}),
    _P.STOPPED: frozenset(),
}


class IllegalMove(RuntimeError):
    """The lifecycle was asked to move between two phases the table does not connect."""


def check_move(old: Phase, new: Phase) -> Phase:
    """Return `new` if `old -> new` is in the table, else raise IllegalMove."""
    if new not in MOVES[old]:
        raise IllegalMove(f"lifecycle cannot go from {old.value} to {new.value}")
    return new
