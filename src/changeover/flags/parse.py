"""Numbers and dates inside constraint values and contexts, read the way Unleash reads them.

Invariant: both parsers return None for text they cannot read (never raise), so a bad value
can only make a rule false; dates always come back timezone-aware (naive ones are UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    # NaN never compares equal, and "1_000" is Python-only syntax no other SDK accepts.
    return None if number != number or "_" in text else number


def parse_date(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
