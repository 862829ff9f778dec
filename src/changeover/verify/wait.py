"""What `changeover verify` does next while it follows a rollout: wait, promote a pause,
abort it, or stop following.

Invariant: `next_action` is pure (what verify saw and already did, and its options, in;
one `Action` out); verify acts only on an unfinished rollout, promotes each pause at most
once, asks for an abort at most once, and never promotes once it has asked for an abort.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from changeover.rollout.events import AbortRequested
from changeover.rollout.phase import EVENT_TRIGGERED_TRANSITIONS, Phase

# the phases the agent accepts an abort in, as its phase table says
ABORTABLE = frozenset(p for p in Phase if EVENT_TRIGGERED_TRANSITIONS.can(p, AbortRequested))


class Action(Enum):
    WAIT = "wait"
    PROMOTE = "promote"
    ABORT = "abort"
    DONE = "done"

    def __repr__(self) -> str:
        return f"Action.{self.name}"


@dataclass(frozen=True, slots=True)
class WaitOptions:
    """`--max-wait` (seconds after the deploy was posted; None: no limit) and `--promote`."""

    max_wait: float | None = None
    promote: bool = False


@dataclass(frozen=True, slots=True)
class Seen:
    """One look at the followed rollout, and what verify already did about it."""

    phase: Phase
    finished: bool
    elapsed: float
    """Seconds since the deploy was posted."""
    promoted: bool = False
    """Verify already promoted (or tried to promote) the pause the rollout is in."""
    abort_sent: bool = False
    """Verify already asked the agent to abort this rollout."""


def next_action(seen: Seen, options: WaitOptions) -> Action:
    """The one thing to do now; the time limit wins over promoting."""
    if seen.finished:
        return Action.DONE
    if seen.abort_sent:
        return Action.WAIT  # follow the rollback to its end
    limit = options.max_wait
    if limit is not None and seen.elapsed >= limit and seen.phase in ABORTABLE:
        return Action.ABORT
    if options.promote and seen.phase is Phase.PAUSED and not seen.promoted:
        return Action.PROMOTE
    return Action.WAIT
