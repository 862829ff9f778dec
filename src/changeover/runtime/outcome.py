"""Exit codes of a drained process, decided from what happened during the drain.

Invariant: the code is a pure function of the `Outcome`; the most severe problem wins
(deadline > failed hook > cancelled background work), and 0 means nothing was cut short.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    # 3 and 4 are avoided on purpose: gunicorn's arbiter halts when a worker exits with them.
    CLEAN = 0  # every request finished, background work stopped, every hook succeeded
    DEADLINE = 80  # the drain deadline passed: requests were cut or the watchdog fired
    HOOK_FAILED = 81  # a shutdown hook raised or overran its own timeout
    BACKGROUND_CANCELLED = 82  # a background worker was cancelled mid-item or crashed

    def __repr__(self) -> str:
        return f"<ExitCode {self.name} {self.value}>"


@dataclass(frozen=True)
class Outcome:
    """What the drain left behind, by name, so logs can say which part failed."""

    requests_cut: int = 0
    hooks_failed: tuple[str, ...] = ()
    background_cancelled: tuple[str, ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        if self.requests_cut:
            return ExitCode.DEADLINE
        if self.hooks_failed:
            return ExitCode.HOOK_FAILED
        if self.background_cancelled:
            return ExitCode.BACKGROUND_CANCELLED
        return ExitCode.CLEAN

    def describe(self) -> str:
        """One line for the log: the code and every problem by name."""
        parts = [f"exit {int(self.exit_code)} ({self.exit_code.name.lower()})"]
        if self.requests_cut:
            parts.append(f"{self.requests_cut} request(s) cut")
        if self.hooks_failed:
            parts.append("hooks failed: " + ", ".join(self.hooks_failed))
        if self.background_cancelled:
            parts.append("background cancelled: " + ", ".join(self.background_cancelled))
        return "; ".join(parts)
