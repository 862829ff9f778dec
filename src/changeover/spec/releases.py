"""The `[releases]` section: the release train's period and its first cut-off, and how
many release folders an agent keeps.

Invariant: a valid `train` has a period above zero and a first cut-off with a UTC
offset (an instant, not a wall-clock time), so every later cut-off is one instant too;
`changeover.versioning.train` computes them from these two values.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, field_validator

from changeover.spec.types import Duration, StrictModel

_INSTANT_HINT = 'a date and time with a UTC offset, like "2026-01-05T10:00:00+01:00"'


def _instant(raw: Any) -> datetime:
    """A TOML offset datetime, or its text; a local (offset-less) time is refused."""
    value = raw
    if isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise ValueError(f"expected {_INSTANT_HINT}, got {raw!r}") from None
    if not isinstance(value, datetime):
        shown = f"the date {raw} without a time" if isinstance(raw, date) else repr(raw)
        raise ValueError(f"expected {_INSTANT_HINT}, got {shown}")
    if value.utcoffset() is None:
        raise ValueError(f"expected {_INSTANT_HINT}; {raw!s} has no offset")
    return value


Instant = Annotated[datetime, BeforeValidator(_instant), PlainSerializer(datetime.isoformat)]


class TrainSettings(StrictModel):
    """`train = { every = "2w", first = "2026-01-05T10:00:00+01:00" }`."""

    every: Duration
    first: Instant

    @field_validator("every")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0s")
        return value


class ReleaseSettings(StrictModel):
    train: TrainSettings | None = None
    # release folders an agent keeps (agent.release_pruning): the newest received, and
    # always any a revision among the newest, a replica, or a pending promotion needs
    keep: int = Field(default=10, ge=1, le=10_000, strict=True)
