"""The request log HAProxy sends the agent, one datagram per logged request (pure).

Each line is `config.LOG_FORMAT`: `<server> <status> <active ms> <termination state>`,
e.g. `r3-1 200 12 --` or `<NOSRV> 503 0 SC`. The active time (`%Ta`) runs from the
first byte of the request head to the last byte of the response, in whole milliseconds
(HAProxy's resolution, truncated: a line's `12` is read as 12.5 ms, the middle of that
millisecond, so sub-millisecond answers are not all counted as 0), as the builtin proxy's
latency does in finer steps.

Invariant: a line that does not have that shape is reported as None, never guessed at;
the caller counts such lines instead of recording them.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_SERVER = "<NOSRV>"


@dataclass(frozen=True, slots=True)
class Logged:
    server: str | None  # None: HAProxy answered before choosing a replica
    status: int  # -1: no response was sent (the client or the replica went away first)
    seconds: float  # the middle of the millisecond HAProxy wrote (it truncates); -1 ms: 0
    by_proxy: bool  # HAProxy ended the exchange itself (an error, a timeout, an abort)


def parse(line: bytes) -> Logged | None:
    words = line.split()
    if len(words) != 4:
        return None
    server, status, active, state = words
    try:
        code, elapsed = int(status), int(active)
    except ValueError:
        return None
    if not -1 <= code <= 999 or elapsed < -1 or len(state) != 2:
        return None
    name = server.decode("ascii", "replace")
    seconds = (elapsed + 0.5) / 1000.0 if elapsed >= 0 else 0.0
    return Logged(None if name == NO_SERVER else name, code, seconds, state != b"--")


__all__ = ["NO_SERVER", "Logged", "parse"]
