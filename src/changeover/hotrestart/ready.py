"""The `--ready` option: how a new generation shows it can serve.

Invariant: `parse_ready` accepts exactly four forms (auto, notify, http:/PATH,
delay:DURATION) and `str(mode)` is canonical: it parses back to a mode with the same
text. `auto`, the default, is the only one that a READY=1 alone cannot satisfy.
"""

from __future__ import annotations

from dataclasses import dataclass

from changeover.hotrestart.gate import waits_for as auto_waits_for
from changeover.units import format_duration, parse_duration

READY_HINT = (
    'expected "auto", "notify", "http:/PATH" (like http:/readyz) or "delay:DURATION"'
    " (like delay:2s)"
)


@dataclass(frozen=True)
class AutoReady:
    """The default: an HTTP answer from the generation, plus READY=1 if it speaks notify."""

    def __str__(self) -> str:
        return "auto"


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


ReadyMode = AutoReady | NotifyReady | HttpReady | DelayReady


def parse_ready(text: str) -> ReadyMode:
    """Parse one `--ready` value; ValueError says what was expected."""
    kind, sep, rest = text.strip().partition(":")
    if kind == "auto" and not sep:
        return AutoReady()
    if kind == "notify" and not sep:
        return NotifyReady()
    if kind == "http" and sep:
        if not rest.startswith("/") or not _printable(rest):
            raise ValueError(f"http: needs a path starting with / in printable ASCII, got {rest!r}")
        return HttpReady(rest)
    if kind == "delay" and sep:
        return DelayReady(round(parse_duration(rest), 6))  # 13 * 0.001 is not quite 0.013
    raise ValueError(f"{READY_HINT}, got {text!r}")


def waits_for(mode: ReadyMode, where: str) -> str:
    """What a new generation must do to count as ready, for the log."""
    match mode:
        case AutoReady():
            return auto_waits_for(where)
        case NotifyReady():
            return "READY=1 on its NOTIFY_SOCKET from its main process or a worker"
        case HttpReady(path):
            return f"GET {path} answered 200-399 by one of its processes on {where}"
        case DelayReady(seconds):
            return f"{format_duration(seconds)} to pass with it alive"


def _printable(text: str) -> bool:
    return text.isascii() and all(0x21 <= ord(c) < 0x7F for c in text)
