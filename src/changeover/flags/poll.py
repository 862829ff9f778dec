"""When to ask the flag server again, and how: the client's refresh decisions, without I/O.

Invariant: `Poller` is pure; the shell reports each outcome (with how long the request took,
measured on its own clock) and gets back the delay before the next request. Long-poll is
used only while the server shows it holds requests (a 304 that arrives no earlier than half
the asked wait); a server that answers a wait at once is polled every `poll_interval`, so
no server can make the client spin. Failures back off from `min_backoff` doubling up to
`poll_interval`, and never touch the state already held.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class PollMode(enum.Enum):
    PROBING = "probing"  # long-poll asked for; not yet known whether the server holds
    LONG_POLL = "long-poll"  # the server holds requests until a change or its timeout
    INTERVAL = "interval"  # plain polling every poll_interval

    def __repr__(self) -> str:
        return f"<PollMode {self.value}>"


TRANSITIONS: dict[PollMode, frozenset[PollMode]] = {
    PollMode.PROBING: frozenset({PollMode.LONG_POLL, PollMode.INTERVAL}),
    PollMode.LONG_POLL: frozenset({PollMode.INTERVAL}),
    PollMode.INTERVAL: frozenset({PollMode.LONG_POLL}),
}


class Outcome(enum.Enum):
    CHANGED = "changed"  # 200 with a new document (and an ETag to send next time)
    SAME = "same"  # 200 with no ETag, or the document we hold: If-None-Match was not honoured
    UNCHANGED = "unchanged"  # 304 Not Modified
    FAILED = "failed"  # unreachable, timeout, 5xx, or a document that does not validate

    def __repr__(self) -> str:
        return f"<Outcome {self.value}>"


@dataclass(frozen=True, slots=True)
class Request:
    etag: str | None  # sent as If-None-Match
    wait: float | None  # seconds the server may hold the request (long-poll), or None


class Poller:
    def __init__(
        self,
        *,
        poll_interval: float = 15.0,
        long_poll: bool = True,
        wait: float = 30.0,
        min_backoff: float = 0.5,
    ) -> None:
        if poll_interval <= 0 or wait <= 0 or min_backoff <= 0:
            raise ValueError("poll_interval, wait and min_backoff must be positive seconds")
        self.poll_interval = poll_interval
        self.long_poll = long_poll
        self.wait = wait
        self.min_backoff = min(min_backoff, poll_interval)
        self.mode = PollMode.PROBING if long_poll else PollMode.INTERVAL
        self.etag: str | None = None
        self.failures = 0

    def __repr__(self) -> str:
        return f"<Poller {self.mode.value} etag={self.etag!r} failures={self.failures}>"

    def request(self) -> Request:
        return Request(self.etag, self.wait if self.long_poll else None)

    def observe(self, outcome: Outcome, elapsed: float, etag: str | None = None) -> float:
        """Record one response (or failure); return the seconds to wait before the next."""
        if outcome is Outcome.FAILED:
            self.failures += 1
            backoff: float = self.min_backoff * 2.0 ** min(self.failures - 1, 30)
            return min(backoff, self.poll_interval)
        self.failures = 0
        if outcome is not Outcome.UNCHANGED:
            self.etag = etag
        if not self.long_poll:
            return self.poll_interval
        self._move(self._mode_after(outcome, elapsed))
        if self.mode is PollMode.INTERVAL:
            return self.poll_interval
        return 0.0

    def _mode_after(self, outcome: Outcome, elapsed: float) -> PollMode:
        if outcome is Outcome.SAME:
            return PollMode.INTERVAL  # no conditional requests: holding is impossible
        if outcome is Outcome.UNCHANGED:
            held = elapsed >= self.wait / 2
            return PollMode.LONG_POLL if held else PollMode.INTERVAL
        return self.mode  # a change says nothing about holding

    def _move(self, new: PollMode) -> None:
        if new is self.mode:
            return
        if new not in TRANSITIONS[self.mode]:
            raise RuntimeError(f"poller cannot go from {self.mode.value} to {new.value}")
        self.mode = new
