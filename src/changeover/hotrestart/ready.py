"""The `--ready` option: how a new generation shows it can serve.

Invariant: `parse_ready` accepts exactly three forms (notify, http:/PATH, delay:DURATION)
and `str(mode)` is canonical: it parses back to a mode with the same text.
"""

from __future__ import annotations

from dataclasses import dataclass

from changeover.units import format_duration, parse_duration

READY_HINT = (
    'expected "notify", "http:/PATH" (like http:/readyz) or "delay:DURATION" (like delay:2s)'
)


@dataclass(frozen=True)
class NotifyReady:
    """READY=1 on the generation's own NOTIFY_SOCKET, from its main process or group."""

    def __str__(self) -> str:
        return "notify"


@dataclass(frozen=True)
class HttpReady:
    """GET `path` through the public socket, counted only when the new generation answers."""

    path: str

    def __str__(self) -> str:
        return f"http:{self.path}"


@dataclass(frozen=True)
class DelayReady:
    """Ready `seconds` after the spawn, if still alive: the last resort."""

    seconds: float

    def __str__(self) -> str:
        return f"delay:{format_duration(self.seconds)}"


ReadyMode = NotifyReady | HttpReady | DelayReady


def parse_ready(text: str) -> ReadyMode:
    """Parse one `--ready` value; ValueError says what was expected."""
    kind, sep, rest = text.strip().partition(":")
    if kind == "notify" and not sep:
        return NotifyReady()
    if kind == "http" and sep:
        if not rest.startswith("/") or not _printable(rest):
            raise ValueError(f"http: needs a path starting with / in printable ASCII, got {rest!r}")
        return HttpReady(rest)
    if kind == "delay" and sep:
        return DelayReady(round(parse_duration(rest), 6))  # 13 * 0.001 is not quite 0.013
    raise ValueError(f"{READY_HINT}, got {text!r}")


def _printable(text: str) -> bool:
    return text.isascii() and all(0x21 <= ord(c) < 0x7F for c in text)
