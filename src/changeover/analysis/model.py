"""Outcomes of one measurement, statuses of a run (and the table that moves them), and
the frozen `Measurement` record.

Invariant: a run's status changes only through `TABLE.transition(status, event)`: RUNNING
takes a round or an ending, every other status takes nothing, so a run ends once. A
`Measurement` is immutable, JSON-round-trippable through `to_dict` / `from_dict`, and its
message is one human line (no newline), so it can be shown in an event, a status table or
a log line as it is.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from changeover.machine import Table


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
        return TABLE.terminal(self)


class RunEvent(enum.Enum):
    """What a round (or `stop`) showed; the table turns it into the run's status."""

    ROUND_RECORDED = "round-recorded"  # one measurement per metric taken (only while running)
    FAILURE_LIMIT_CROSSED = "failure-limit-crossed"
    ERROR_LIMIT_CROSSED = "error-limit-crossed"  # consecutive errors
    INCONCLUSIVE_LIMIT_CROSSED = "inconclusive-limit-crossed"
    ALL_PASSED = "all-passed"  # the rounds are done (or stopped): every metric passed once
    NOT_ALL_PASSED = "not-all-passed"  # the rounds are done (or stopped): one never passed

    def __repr__(self) -> str:
        return f"<RunEvent {self.value}>"


_S, _E = RunStatus, RunEvent
TABLE: Table[RunStatus, RunEvent] = Table(
    "analysis run",
    RunStatus,
    {
        _S.RUNNING: {
            _E.ROUND_RECORDED: _S.RUNNING,
            _E.FAILURE_LIMIT_CROSSED: _S.FAILED,
            _E.ERROR_LIMIT_CROSSED: _S.ERROR,
            _E.INCONCLUSIVE_LIMIT_CROSSED: _S.INCONCLUSIVE,
            _E.ALL_PASSED: _S.SUCCESSFUL,
            _E.NOT_ALL_PASSED: _S.INCONCLUSIVE,
        },
        _S.SUCCESSFUL: {},
        _S.FAILED: {},
        _S.INCONCLUSIVE: {},
        _S.ERROR: {},
    },
)


class IllegalUse(RuntimeError):
    """An analysis run was driven in a way its rules forbid (e.g. a round before it was due)."""


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
