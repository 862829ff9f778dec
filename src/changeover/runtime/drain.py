"""The drain state machine: phases, in-flight count and deadlines, with no I/O and no clock.

Invariant: the phase moves only through `phase.TABLE`; the in-flight count is exact
(never negative, every start has one finish), and the server is released exactly once:
when nothing is in flight after `drain_delay`, or at `release_after` whatever is in
flight. Callers pass `now`; the machine never reads a clock.
"""

from __future__ import annotations

from changeover.runtime.config import Timing
from changeover.runtime.outcome import Outcome
from changeover.runtime.phase import TABLE, Phase, PhaseEvent


class Drain:
    """Fed events by the adapters; answers whether the server may stop now."""

    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self.phase = Phase.STARTING
        self.in_flight = 0
        self.cut = 0  # requests ended by cancellation instead of finishing
        self.asked_at: float | None = None  # when the stop was asked
        self.outcome: Outcome | None = None

    def __repr__(self) -> str:
        return f"<Drain {self.phase.value} in_flight={self.in_flight} asked_at={self.asked_at}>"

    def _move(self, event: PhaseEvent) -> None:
        self.phase = TABLE.transition(self.phase, event)

    def started(self) -> None:
        """Startup finished: serve. Only STARTING takes it: once a stop was asked (startup
        may end after that), and on a repeated call, it is ignored."""
        if TABLE.can(self.phase, PhaseEvent.STARTUP_FINISHED):
            self._move(PhaseEvent.STARTUP_FINISHED)

    def stop(self, now: float) -> bool:
        """Ask for the stop; True only for the call that began the drain."""
        if self.phase.draining:
            return False
        self._move(PhaseEvent.STOP_ASKED)
        self.asked_at = now
        return True

    def request_started(self) -> None:
        self.in_flight += 1

    def request_finished(self, *, cut: bool = False) -> None:
        if self.in_flight == 0:
            raise RuntimeError("request_finished without a matching request_started")
        self.in_flight -= 1
        self.cut += cut

    def release_due(self, now: float) -> bool:
        """Whether the server should be told to stop accepting and shut down now."""
        if self.phase is not Phase.DRAINING or self.asked_at is None:
            return False
        elapsed = now - self.asked_at
        idle = self.in_flight == 0 and elapsed >= self.timing.drain_delay
        return idle or elapsed >= self.timing.release_after

    def next_check(self, now: float) -> float | None:
        """Seconds until `release_due` can turn true by time alone (None: not draining)."""
        if self.phase is not Phase.DRAINING or self.asked_at is None:
            return None
        elapsed = now - self.asked_at
        marks = [self.timing.release_after]
        if self.in_flight == 0:
            marks.append(self.timing.drain_delay)
        return max(0.0, min(marks) - elapsed)

    def released(self, now: float) -> None:
        """The server was released (or is shutting down on its own): wind down."""
        self.stop(now)  # a server shutting down on its own was never asked to stop
        self._move(PhaseEvent.RELEASED)

    def exit_at(self) -> float | None:
        """Absolute time by which the process must be gone (None: no stop asked)."""
        if self.asked_at is None:
            return None
        return self.asked_at + self.timing.exit_after

    def finish(self, hooks_failed: tuple[str, ...], background: tuple[str, ...]) -> Outcome:
        """Close the books: the outcome (and so the exit code) of this drain."""
        self._move(PhaseEvent.FINISHED)
        self.outcome = Outcome(self.cut + self.in_flight, hooks_failed, background)
        return self.outcome
