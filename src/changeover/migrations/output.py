"""What is kept of a migration command's output: redacted, and its tail cut short.

Invariant: no value of a secret the command was given appears in what these functions
return (each is replaced by `***`, longest first so one secret inside another leaves
no piece behind), whatever the command printed.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "***"
TAIL_LINES = 5  # lines of output an event shows
LINE_MAX = 200  # characters of each of them


def redact(text: str, secrets: Iterable[str]) -> str:
    for value in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def tail(text: str, secrets: Iterable[str], lines: int = TAIL_LINES) -> str:
    """The last `lines` non-blank lines of `text`, redacted, each cut to LINE_MAX,
    joined by " | " (one line for an event)."""
    clean = redact(text, secrets)
    kept = [line.strip() for line in clean.splitlines() if line.strip()][-lines:]
    return " | ".join(line[:LINE_MAX] + ("..." if len(line) > LINE_MAX else "") for line in kept)
