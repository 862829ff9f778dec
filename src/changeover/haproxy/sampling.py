"""`log_sample = "auto"`: how many replica responses the request log keeps (pure, sans-IO).

HAProxy logs a replica's response when `rand(65536)` falls in the one range the sample
map holds (`0:<65536 >> level - 1>`), so one response in 2^level is logged, drawn at
random per response; the agent replaces the map through the runtime API when the level
changes (`engine`, `maps`), and a HAProxy started again reads the current level from the
map's file (`seed`). `observe` decides the level from what the stats count (requests
answered by replicas, summed over revisions) and the time, nothing else:

- it logs every response while the service serves under `LOG_RATE` responses a second,
  and about `LOG_RATE` lines a second above that: the smallest level that brings the
  measured rate under the cap;
- the rate is measured over the last second and over `WINDOW` seconds, and the higher
  of the two counts: a surge raises the level at the first observation that shows it,
  and the level is lowered only once the whole window says the rate has fallen;
- it is lowered only to a level where the lines would stay under `LOWER` of the cap, so
  a rate at a level's boundary never makes it flap (raising from level k needs a rate
  above `LOG_RATE * 2^k`, lowering to it one under 3/4 of that: a band of 4/3 between);
- the log raises it sooner (`surged`): replica lines read faster than `SURGE` times the
  cap stand for `lines x 2^level` requests a second, at the level HAProxy's map held,
  and the level rises at once to what they need (the stats show a surge only at their
  next poll; the log shows it within the agent's next read, 50 ms);
- counters that went down (HAProxy's, after it restarted) start the measurement again:
  no rate is ever negative, and the level stays as it was meanwhile.

Invariant: 0 <= level <= MAX_LEVEL; after an observation with a measured rate r,
r / 2^level <= LOG_RATE unless level is MAX_LEVEL; the level goes down only when that
rate at the new level is under LOWER * LOG_RATE.
"""

from __future__ import annotations

from dataclasses import dataclass

# Lines a second the agent reads at most, about. 500 latencies a second give a small
# canary (5 % of the traffic) 250 latencies in a 10 s analysis window, plenty for a
# p99; reading them costs the agent about 3 us each, 1.5 ms a second: 0.15 % of a core.
LOG_RATE = 500.0
MAX_LEVEL = 16  # 1 response in 65536: past 30 million responses a second
RANGE = 1 << MAX_LEVEL  # rand(RANGE): the draw the map's range is matched against
WINDOW = 5.0  # seconds of counts a level is lowered on
RECENT = 1.0  # seconds of counts a level is raised on at once, as well
SURGE = 2.0  # the log's own line rate over the cap by this factor raises the level at once
LOWER = 0.75  # lowered only to a level whose lines would stay under this share of the cap
MAP_NAME = "sample.map"


@dataclass(frozen=True)
class Sampling:
    """The level in effect, and the (time, requests) observations of the last `WINDOW`
    seconds, the newest last (the oldest is the last one at least `WINDOW` old)."""

    level: int = 0
    seen: tuple[tuple[float, int], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.level, bool) or not 0 <= self.level <= MAX_LEVEL:
            raise ValueError(f"a sampling level is 0-{MAX_LEVEL}, got {self.level!r}")

    @property
    def one_in(self) -> int:
        return 1 << self.level


def observe(state: Sampling, now: float, requests: int) -> Sampling:
    """`state` after the stats counted `requests` (cumulative) at `now` (seconds)."""
    if state.seen and (requests < state.seen[-1][1] or now < state.seen[-1][0]):
        return Sampling(state.level, ((now, requests),))  # a restart: measure again
    if state.seen and now == state.seen[-1][0]:
        return state  # the same instant twice: nothing to measure
    seen = _trimmed((*state.seen, (now, requests)), now)
    recent, window = rate(seen, RECENT), rate(seen, WINDOW)
    measured = [r for r in (recent, window) if r is not None]
    if not measured:
        return Sampling(state.level, seen)
    top = max(measured)
    need = needed(top)
    level = state.level
    if need > level:
        level = need
    elif need < level and window is not None:
        lower = next(k for k in range(need, MAX_LEVEL + 1) if top / (1 << k) < LOWER * LOG_RATE)
        level = min(level, lower)
    return Sampling(level, seen)


def surged(state: Sampling, applied: int, lines: int, seconds: float) -> Sampling:
    """`state` after the log brought `lines` replica responses in `seconds`, logged at the
    level HAProxy's map held meanwhile (`applied`): raised at once when they come faster
    than `SURGE` times the cap, to the level the request rate they stand for needs. The
    stats show a surge only at their next poll, a second later at most; the log shows it
    within a tick, before the agent has read a second of every response. Never lowers
    (that is `observe`'s, on a whole window)."""
    if seconds <= 0 or lines <= SURGE * LOG_RATE * seconds:
        return state
    need = needed(lines / seconds * (1 << applied))
    return Sampling(need, state.seen) if need > state.level else state


def needed(per_second: float) -> int:
    """The smallest level whose lines stay under the cap at this rate (MAX_LEVEL at most)."""
    for level in range(MAX_LEVEL + 1):
        if per_second / (1 << level) <= LOG_RATE:
            return level
    return MAX_LEVEL


def rate(seen: tuple[tuple[float, int], ...], span: float) -> float | None:
    """Requests a second from the newest observation back to the newest one at least
    `span` seconds older; None when none is that old."""
    if not seen:
        return None
    last_time, last_count = seen[-1]
    for when, count in reversed(seen[:-1]):
        if last_time - when >= span:
            return (last_count - count) / (last_time - when)
    return None


def _trimmed(seen: tuple[tuple[float, int], ...], now: float) -> tuple[tuple[float, int], ...]:
    """Drop what is older than the newest observation at least WINDOW old."""
    keep = 0
    for index, (when, _count) in enumerate(seen):
        if now - when >= WINDOW:
            keep = index
    return seen[keep:]


# --- HAProxy's side: the map, the rule ---------------------------------------------------


def map_file(map_dir: str) -> str:
    return f"{map_dir}/{MAP_NAME}"


def entries(level: int) -> tuple[tuple[str, str], ...]:
    """The sample map's content for `level`: draws 0..(65536 >> level) - 1 log (value 1)."""
    Sampling(level)  # checked
    return ((f"0:{(RANGE >> level) - 1}", "1"),)


def level_of(held: tuple[tuple[str, str], ...]) -> int | None:
    """The level a map holding `held` logs at (what `entries` wrote), else None."""
    for level in range(MAX_LEVEL + 1):
        if held == entries(level):
            return level
    return None


def rule(path: str) -> str:
    """The frontend's rule: a replica's response is logged only when its draw is in the
    map's range (HAProxy's own answers run no http-response rule: always logged)."""
    return (
        f"http-response set-log-level silent unless {{ rand({RANGE}),map_int({path},0) -m int 1 }}"
    )


def describe(level: int) -> str:
    return f"1 in {1 << level}"


__all__ = [
    "LOG_RATE",
    "LOWER",
    "MAX_LEVEL",
    "RECENT",
    "SURGE",
    "WINDOW",
    "Sampling",
    "describe",
    "entries",
    "level_of",
    "map_file",
    "needed",
    "observe",
    "rate",
    "rule",
    "surged",
]
