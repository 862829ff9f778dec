"""One generation of the service as the core tracks it, and the timing the core obeys.

Invariant: a generation has a deadline exactly while something is awaited from it
(readiness while STARTING, its exit while LEAVING and not yet killed), so the core's
next wake-up is always the earliest deadline of a living generation.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass


class Role(enum.Enum):
    STARTING = "starting"  # spawned, readiness awaited
    SERVING = "serving"  # ready; the one generation that should keep serving
    LEAVING = "leaving"  # told to stop; its exit is awaited

    def __repr__(self) -> str:
        return f"<Role {self.value}>"


@dataclass
class Generation:
    gen: int
    role: Role
    deadline: float | None
    killed: bool = False


@dataclass(frozen=True)
class Timing:
    ready_timeout: float = 30.0  # from spawn to ready, else the candidate is stopped
    grace_period: float = 30.0  # from the stop signal to SIGKILL of the group
    stop_signal: int = signal.SIGTERM

    def __post_init__(self) -> None:
        if self.ready_timeout <= 0 or self.grace_period < 0:
            raise ValueError(
                f"ready_timeout must be > 0 and grace_period >= 0, got {self.ready_timeout}"
                f" and {self.grace_period}"
            )


def exit_code_of(child_code: int | None, stop_signal: int) -> int:
    """Our exit code after a requested stop: the child's, shell-style (128 + signal).

    Dying of the very stop signal we sent counts as a clean stop (uvicorn re-raises it).
    """
    if child_code is None or child_code == -stop_signal:
        return 0
    return 128 - child_code if child_code < 0 else child_code


def describe(code: int) -> str:
    """ "exited with code 3" or "exited on SIGTERM"."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"exited on {signal.Signals(-code).name}"
    except ValueError:
        return f"exited on signal {-code}"
