"""Restart delays that grow exponentially and forget after a long healthy run.

Invariant: the delay after the n-th consecutive failed run is min(cap, initial * factor**n)
and goes back to `initial` once a run stayed ready for `reset_after` seconds. Pure: every
decision takes `now` from the caller, so a fake clock drives it in tests.
"""

from __future__ import annotations


class Backoff:
    def __init__(
        self,
        initial: float = 1.0,
        factor: float = 2.0,
        cap: float = 30.0,
        reset_after: float = 60.0,
    ) -> None:
        if initial <= 0 or factor < 1 or cap < initial or reset_after < 0:
            raise ValueError("backoff needs 0 < initial <= cap, factor >= 1, reset_after >= 0")
        self.initial, self.factor, self.cap, self.reset_after = initial, factor, cap, reset_after
        self.failures = 0
        self._next = initial
        self._ready_at: float | None = None

    def ready(self, now: float) -> None:
        """The replica became ready at `now`: start timing a healthy run."""
        if self._ready_at is None:
            self._ready_at = now

    def unready(self, now: float) -> None:
        """The replica stopped being ready at `now`."""
        if self._ready_at is not None and now - self._ready_at >= self.reset_after:
            self.reset()
        self._ready_at = None

    def failure(self, now: float) -> float:
        """A run ended badly at `now`: the delay to wait before the next start."""
        self.unready(now)
        delay = self._next
        # Multiply instead of exponentiating so a long crash loop never overflows.
        self._next = min(self.cap, delay * self.factor)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
        self._next = self.initial
