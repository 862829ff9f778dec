"""Outcomes of one measurement, statuses of a run, and the frozen `Measurement` record.

Invariant: a `Measurement` is immutable, JSON-round-trippable through `to_dict` /
`from_dict`, and its message is one human line (no newline), so it can be shown in an
event, a status table or a log line as it is.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any


class Outcome(enum.Enum):
    PASSED = "passed"  # a value was obtained and met every threshold
    FAILED = "failed"  # a value was obtained and broke a threshold
    INCONCLUSIVE = "inconclusive"  # no usable data (no requests, empty query result, NaN)
    ERROR = "error"  # the provider could not measure (connection refused, bad answer)

    def __repr__(self) -> str:
        return f"<Outcome {self.value}>"


class RunStatus(enum.Enum):
    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"

    def __repr__(self) -> str:
        return f"<RunStatus {self.value}>"

    @property
    def terminal(self) -> bool:
        return not TRANSITIONS[self]


_S = RunStatus
# The one table of legal status moves: a run only ever leaves RUNNING, once.
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    _S.RUNNING: frozenset({_S.SUCCESSFUL, _S.FAILED, _S.INCONCLUSIVE, _S.ERROR}),
    _S.SUCCESSFUL: frozenset(),
    _S.FAILED: frozenset(),
    _S.INCONCLUSIVE: frozenset(),
    _S.ERROR: frozenset(),
}


class IllegalUse(RuntimeError):
    """An analysis run was driven in a way its rules forbid (e.g. recorded after it ended)."""


def check_transition(old: RunStatus, new: RunStatus) -> RunStatus:
    """Return `new` if `old -> new` is in the table, else raise IllegalUse."""
    if new not in TRANSITIONS[old]:
        raise IllegalUse(f"an analysis run cannot go from {old.value} to {new.value}")
    return new


def one_line(text: str, limit: int = 300) -> str:
    """`text` folded to a single line of at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class Measurement:
    """One metric measured once: its outcome, the value if any, and why, in one line."""

    metric: str
    outcome: Outcome
    value: float | None
    at: float  # wall-clock time (seconds since the epoch) of the round
    message: str

    def __post_init__(self) -> None:
        if "\n" in self.message or "\r" in self.message:
            raise ValueError(f"measurement message must be one line, got {self.message!r}")

    def to_dict(self) -> dict[str, Any]:
        # NaN and infinities are not JSON: they become None, the message keeps the text.
        value = self.value if self.value is not None and math.isfinite(self.value) else None
        return {
            "metric": self.metric,
            "outcome": self.outcome.value,
            "value": value,
            "at": self.at,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        value = data.get("value")
        return cls(
            metric=str(data["metric"]),
            outcome=Outcome(data["outcome"]),
            value=None if value is None else float(value),
            at=float(data["at"]),
            message=str(data["message"]),
        )
