"""What verify itself did to the rollout it followed (promotes, an abort), for the report.

Invariant: every promote or abort verify sends is recorded once, with whether the agent
accepted it and a message saying which; only an accepted abort makes the rollout
"aborted by verify".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from changeover.verify.timeline import RolloutEvent
from changeover.verify.wait import Action

EVENT_KIND = "verify"  # kind of verify's own lines among the rollout's events


@dataclass(frozen=True, slots=True)
class VerifyAction:
    ts: float
    """Unix time at which verify sent it."""
    elapsed: float
    """Seconds since the deploy was posted."""
    action: Action
    accepted: bool
    message: str

    def as_event(self, index: int) -> RolloutEvent:
        """A timeline event; ids below 0 never collide with the agent's (from 1)."""
        return RolloutEvent(-(index + 1), self.ts, EVENT_KIND, self.message)

    def to_dict(self, t: float) -> dict[str, Any]:
        return {
            "t": t,
            "elapsed": self.elapsed,
            "action": self.action.value,
            "accepted": self.accepted,
            "message": self.message,
        }


def promote_action(ts: float, elapsed: float, step: int | None, refusal: str = "") -> VerifyAction:
    """Verify promoted the pause at canary step `step` (1-based; None: not a canary step)."""
    what = f"step {step}" if step is not None else "the paused rollout"
    if refusal:
        message = f"verify could not promote {what}: {refusal}"
        return VerifyAction(ts, elapsed, Action.PROMOTE, False, message)
    return VerifyAction(ts, elapsed, Action.PROMOTE, True, f"verify promoted {what}")


def abort_action(ts: float, elapsed: float, max_wait: float, refusal: str = "") -> VerifyAction:
    """Verify aborted the rollout because it had not finished `max_wait` s after the deploy."""
    if refusal:
        message = f"verify could not abort the rollout: {refusal}"
        return VerifyAction(ts, elapsed, Action.ABORT, False, message)
    message = (
        f"verify aborted the rollout: not finished {elapsed:.1f} s after the deploy "
        f"(--max-wait {max_wait:g})"
    )
    return VerifyAction(ts, elapsed, Action.ABORT, True, message)


def aborted_by_verify(actions: Iterable[VerifyAction]) -> VerifyAction | None:
    """The abort of verify's that the agent accepted, if any."""
    return next((a for a in actions if a.action is Action.ABORT and a.accepted), None)
