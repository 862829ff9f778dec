"""What `changeover verify` requests: `--request "METHOD /path [weight=W] [body=BYTES]"`,
and how much (the load options' ranges).

Invariant: `parse_request` either returns a valid load generator `Template` or raises
`RequestSpecError` naming the option value, what is wrong and the expected form;
`format_request` of a parsed template parses back to an equal template.
"""

from __future__ import annotations

import math

from changeover.loadgen import Template

FORM = "'[METHOD] /path [weight=W] [body=BYTES]'"
DEFAULT_REQUEST = "GET /"
_FILLER = b"changeover"


class RequestSpecError(ValueError):
    """A `--request` value that cannot be turned into a request template."""


def parse_request(text: str) -> Template:
    """Parse one `--request` value; the method defaults to GET."""
    words = text.split()
    if not words:
        raise _error(text, "it is empty")
    method = "GET"
    if not words[0].startswith("/"):
        method, words = words[0].upper(), words[1:]
    if not words or not words[0].startswith("/"):
        raise _error(text, "a path starting with '/' is required")
    path, options = words[0], words[1:]
    weight, body = 1.0, 0
    for option in options:
        name, sep, value = option.partition("=")
        if name == "weight" and sep:
            weight = _weight(text, value)
        elif name == "body" and sep:
            body = _bytes(text, value)
        else:
            raise _error(text, f"unknown option {option!r} (known: weight=W, body=BYTES)")
    try:
        return Template(method, path, filler(body), weight=weight)
    except ValueError as exc:
        raise _error(text, str(exc)) from None


def parse_requests(texts: list[str]) -> list[Template]:
    """Every `--request` value in order; `GET /` when none was given."""
    return [parse_request(t) for t in texts or [DEFAULT_REQUEST]]


def format_request(template: Template) -> str:
    """The `--request` form of a template (weight and body only when not the default)."""
    parts = [template.method, template.path]
    if template.weight != 1.0:
        parts.append(f"weight={template.weight:g}")
    if template.body:
        parts.append(f"body={len(template.body)}")
    return " ".join(parts)


def check_load(
    *,
    rate: float,
    connections: int,
    warmup: float,
    cooldown: float,
    timeout: float,
    max_wait: float | None = None,
) -> str | None:
    """The first load option out of range, as an error line; None when all are fine."""
    checks = [
        ("--rate", rate, 0 < rate < math.inf, "a positive number of requests per second"),
        ("--connections", connections, 1 <= connections <= 10_000, "from 1 to 10000"),
        ("--warmup", warmup, 0 <= warmup < math.inf, "seconds >= 0"),
        ("--cooldown", cooldown, 0 <= cooldown < math.inf, "seconds >= 0"),
        ("--timeout", timeout, 0 < timeout < math.inf, "seconds > 0"),
    ]
    if max_wait is not None:  # not given: follow the rollout for as long as it takes
        checks.append(("--max-wait", max_wait, 0 < max_wait < math.inf, "seconds > 0"))
    for name, value, ok, expected in checks:
        if not ok:
            return f"{name} {value:g}: expected {expected}"
    return None


def filler(size: int) -> bytes:
    """`size` bytes of a recognisable repeated word."""
    return (_FILLER * (size // len(_FILLER) + 1))[:size]


def _weight(text: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise _error(text, f"weight={raw!r}: expected a positive number")
    return float(f"{value:g}")  # what format_request prints, so a round trip is exact


def _bytes(text: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) > 64 * 1024 * 1024:
        raise _error(text, f"body={raw!r}: expected a byte count from 0 to 67108864")
    return int(raw)


def _error(text: str, problem: str) -> RequestSpecError:
    return RequestSpecError(f"--request {text!r}: {problem}; expected {FORM}")
