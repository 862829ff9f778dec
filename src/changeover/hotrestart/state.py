"""Phases of a hot-restarting service and the one table of legal moves between them.

Invariant: the phase only changes through `check_transition`; EXITED has no way out, and
every phase with two generations alive (upgrading, retiring, aborting) can only be left
towards one generation serving or towards stopping, so at most one upgrade runs at a time.
"""

from __future__ import annotations

import enum


class Phase(enum.Enum):
    STARTING = "starting"  # first generation spawned, not ready yet
    SERVING = "serving"  # one generation serving, nothing else alive
    UPGRADING = "upgrading"  # a candidate is starting next to the serving generation
    RETIRING = "retiring"  # the candidate serves; the old generation drains and stops
    ABORTING = "aborting"  # the candidate failed and is being stopped; the old one serves
    STOPPING = "stopping"  # every generation is being stopped; exit follows
    EXITED = "exited"  # nothing alive; the exit code is decided

    def __repr__(self) -> str:
        return f"<Phase {self.value}>"

    @property
    def busy(self) -> bool:
        """True while a reload would have to be refused."""
        return self is not Phase.SERVING


_P = Phase
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    _P.STARTING: frozenset({_P.SERVING, _P.STOPPING}),
    _P.SERVING: frozenset({_P.UPGRADING, _P.STOPPING}),
    # UPGRADING -> SERVING: the candidate was ready after the old one had died, or the
    # candidate died at once (nothing left to abort).
    _P.UPGRADING: frozenset({_P.SERVING, _P.RETIRING, _P.ABORTING, _P.STOPPING}),
    _P.RETIRING: frozenset({_P.SERVING, _P.STOPPING}),
    _P.ABORTING: frozenset({_P.SERVING, _P.STOPPING}),
    _P.STOPPING: frozenset({_P.EXITED}),
    _P.EXITED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """The service was asked to move between two phases the table does not connect."""


def check_transition(old: Phase, new: Phase) -> Phase:
    """Return `new` if `old -> new` is legal, else raise IllegalTransition."""
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"hot restart cannot go from {old.value} to {new.value}")
    return new
