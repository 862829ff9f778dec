"""When to ask the flag server again, and how: the client's refresh decisions, without I/O.

Invariant: `Poller` is pure; the shell reports each outcome (with how long the request took,
measured on its own clock) and gets back the delay before the next request. Long-poll is
used only while the server shows it holds requests (a 304 that arrives no earlier than half
the asked wait); a server that answers a wait at once is polled every `poll_interval`, so
no server can make the client spin. The mode changes only through `TABLE`, fed what each
answer showed about the server. Failures back off from `min_backoff` doubling up to
`poll_interval`, and never touch the state already held (nor the mode).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from changeover.machine import Table


class PollMode(enum.Enum):
    PROBING = "probing"  # long-poll asked for; not yet known whether the server holds
    LONG_POLL = "long-poll"  # the server holds requests until a change or its timeout
    INTERVAL = "interval"  # plain polling every poll_interval

    def __repr__(self) -> str:
        return f"<PollMode {self.value}>"


class PollEvent(enum.Enum):
    """What an answer showed about the server; the table turns it into the next mode."""

    CHANGED = "changed"  # a new document: says nothing about holding
    ETAG_IGNORED = "etag-ignored"  # If-None-Match not honoured: holding is impossible
    HELD = "held"  # a 304 no earlier than half the asked wait: the server holds
    ANSWERED_AT_ONCE = "answered-at-once"  # a 304 sooner than that: it does not

    def __repr__(self) -> str:
        return f"<PollEvent {self.value}>"


_M, _E = PollMode, PollEvent
# Each answer decides afresh (PROBING is only where long-poll starts): a server that
# holds again is long-polled again, and one that stops is polled every interval.
TABLE: Table[PollMode, PollEvent] = Table(
    "poller",
    PollMode,
    {
        _M.PROBING: {
            _E.CHANGED: _M.PROBING,
            _E.ETAG_IGNORED: _M.INTERVAL,
            _E.HELD: _M.LONG_POLL,
            _E.ANSWERED_AT_ONCE: _M.INTERVAL,
        },
        _M.LONG_POLL: {
            _E.CHANGED: _M.LONG_POLL,
            _E.ETAG_IGNORED: _M.INTERVAL,
            _E.HELD: _M.LONG_POLL,
            _E.ANSWERED_AT_ONCE: _M.INTERVAL,
        },
        _M.INTERVAL: {
            _E.CHANGED: _M.INTERVAL,
            _E.ETAG_IGNORED: _M.INTERVAL,
            _E.HELD: _M.LONG_POLL,
            _E.ANSWERED_AT_ONCE: _M.INTERVAL,
        },
    },
)


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
        self.mode = TABLE.transition(self.mode, self._seen(outcome, elapsed))
        if self.mode is PollMode.INTERVAL:
            return self.poll_interval
        return 0.0

    def _seen(self, outcome: Outcome, elapsed: float) -> PollEvent:
        if outcome is Outcome.SAME:
            return PollEvent.ETAG_IGNORED
        if outcome is Outcome.UNCHANGED:
            return PollEvent.HELD if elapsed >= self.wait / 2 else PollEvent.ANSWERED_AT_ONCE
        return PollEvent.CHANGED
