"""The generations alive and the actions decided so far: the core's bookkeeping.

Invariant: a generation is in `gens` from its Spawn until its exit was seen; Signal goes
only to a generation in `gens`, KillGroup to one in `gens` or to the one whose exit is
being handled (its workers and grandchildren), and each generation is killed at most once
while alive.
"""

from __future__ import annotations

from changeover.hotrestart.actions import Action, KillGroup, Log, Signal, Spawn
from changeover.hotrestart.generation import Generation, Role, Timing
from changeover.units import format_duration


class Ledger:
    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self.gens: dict[int, Generation] = {}
        self._last_gen = 0
        self._out: list[Action] = []

    def spawn(self, now: float, like: int | None = None) -> int:
        """A new generation (`like`: running generation `like`'s command again)."""
        self._last_gen += 1
        gen = self._last_gen
        self.gens[gen] = Generation(gen, Role.STARTING, now + self.timing.ready_timeout)
        self.emit(Spawn(gen, like))
        return gen

    def draining(self) -> bool:
        """Whether a generation told to stop is still alive."""
        return any(g.role is Role.LEAVING for g in self.gens.values())

    def leave(self, gen: int, now: float) -> None:
        """Send the stop signal; the grace period starts now."""
        g = self.gens[gen]
        g.role, g.deadline = Role.LEAVING, now + self.timing.grace_period
        self.emit(Signal(gen, self.timing.stop_signal))

    def kill(self, g: Generation, why: str) -> None:
        if not g.killed:
            g.killed, g.deadline = True, None
            self.log(f"generation {g.gen} {why}: killing its process group", error=True)
            self.emit(KillGroup(g.gen))

    def exited(self, gen: int) -> bool:
        """Forget `gen` (False if unknown: a stale event); its group is killed once more."""
        if self.gens.pop(gen, None) is None:
            return False
        self.emit(KillGroup(gen))  # no worker or grandchild outlives its generation
        return True

    def overdue(self, now: float) -> list[Generation]:
        return [g for g in self.gens.values() if g.deadline is not None and g.deadline <= now]

    def next_deadline(self) -> float | None:
        return min((g.deadline for g in self.gens.values() if g.deadline is not None), default=None)

    def grace_text(self) -> str:
        return format_duration(self.timing.grace_period)

    def ready_text(self) -> str:
        return format_duration(self.timing.ready_timeout)

    def log(self, message: str, error: bool = False) -> None:
        self.emit(Log(message, error))

    def emit(self, action: Action) -> None:
        self._out.append(action)

    def flush(self) -> list[Action]:
        out, self._out = self._out, []
        return out
