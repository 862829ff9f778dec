"""Durations with units ("250ms", "1m30s") and counts-or-percentages ("25%").

Invariant: every value accepted here round-trips: `parse(format(parse(x))) == parse(x)`,
so a spec stored as JSON in a revision snapshot validates to the same model again.
A leaf module (the standard library only): the spec, the app-side runtime and
`changeover run` share one grammar of durations. Weeks ("2w", a release train's period)
are read but written as days, so a text formatted before weeks existed stays the same.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")
DURATION_HINT = 'a duration with a unit, like "250ms", "5s", "2m", "1m30s" or "7d"'


def parse_duration(text: str) -> float:
    """Seconds in `text`; raise ValueError naming the expected form otherwise."""
    s = text.strip()
    if s == "0":
        return 0.0
    if not _WHOLE.fullmatch(s):
        raise ValueError(f"expected {DURATION_HINT}, got {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in _PART.findall(s))


def format_duration(seconds: float) -> str:
    """Shortest exact text for `seconds` that parse_duration reads back."""
    if seconds == 0:
        return "0s"
    ms = seconds * 1000
    if ms == int(ms) and ms < 1000:
        return f"{int(ms)}ms"
    if seconds == int(seconds):
        whole = int(seconds)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if whole % size == 0:
                return f"{whole // size}{unit}"
        return f"{whole}s"
    text = repr(seconds) if "e" not in repr(seconds) else f"{seconds:.9f}".rstrip("0")
    return f"{text.rstrip('.') or '0'}s"


@dataclass(frozen=True)
class Quantity:
    """A replica count, or a percentage of the desired count (Kubernetes' IntOrString)."""

    value: int
    percent: bool = False

    def resolve(self, total: int, *, round_up: bool) -> int:
        """Absolute count; surge rounds up and unavailability down, as Kubernetes does."""
        if not self.percent:
            return self.value
        exact = total * self.value / 100
        return math.ceil(exact) if round_up else math.floor(exact)

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


def parse_quantity(raw: object) -> Quantity:
    """Accept a non-negative int or a "NN%" string with 0 <= NN <= 100."""
    if isinstance(raw, bool):
        raise ValueError(f'expected a count or a percentage like "25%", got {raw!r}')
    if isinstance(raw, int):
        if raw < 0:
            raise ValueError(f"expected a count >= 0, got {raw}")
        return Quantity(raw)
    if isinstance(raw, str) and (m := re.fullmatch(r"\s*(\d+)\s*%\s*", raw)):
        pct = int(m.group(1))
        if pct > 100:
            raise ValueError(f"expected a percentage between 0% and 100%, got {raw!r}")
        return Quantity(pct, percent=True)
    if isinstance(raw, str) and raw.strip().isdigit():
        return Quantity(int(raw))
    raise ValueError(f'expected a count (like 1) or a percentage (like "25%"), got {raw!r}')
