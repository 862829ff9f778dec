"""What the hot-restart core is told: signals, readiness, exits, time passing.

Invariant: events are plain frozen values naming a generation by number, never a
process object, so the core stays free of I/O and a stale event (about a generation
that already left) is recognisable and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reload:
    """SIGHUP: start a new generation on the same sockets."""


@dataclass(frozen=True)
class Ready:
    """Generation `gen` passed its readiness check (READY=1, HTTP probe or delay)."""

    gen: int


@dataclass(frozen=True)
class Exited:
    """Generation `gen`'s main process ended (or never started: `reason` says why)."""

    gen: int
    code: int  # exit code, or minus the signal number that killed it
    reason: str = ""


@dataclass(frozen=True)
class Terminate:
    """SIGTERM or SIGINT: stop every generation and exit."""

    signal: int


@dataclass(frozen=True)
class Tick:
    """Time passed; deadlines are checked on every event, this one carries nothing else."""


Event = Reload | Ready | Exited | Terminate | Tick
