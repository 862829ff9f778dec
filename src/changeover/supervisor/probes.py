"""Probe results counted into verdicts, and the HTTP probe itself.

Invariant: a `ProbeTracker` emits a verdict only when its pass/fail status changes, and
only after `success_threshold` consecutive successes (pass) or `failure_threshold`
consecutive failures (fail), as Kubernetes counts them. The counting is pure. Every
probe result says what was seen (`ProbeOutcome.detail`), so a failure can be explained.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
from dataclasses import dataclass

from changeover.spec.models import Probe

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])[ \r\n]")


class Verdict(enum.Enum):
    PASS = "pass"
    FAIL = "fail"


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe's result: passed or not, and what was seen, in words that follow
    "readiness GET /readyz": "answered 503", "timed out after 1s", "connection refused"."""

    ok: bool
    detail: str


class ProbeTracker:
    """Consecutive-result counting for one probe.

    `passing` is the status before any result: None (unknown, as a startup probe),
    False (as readiness: not ready until proven) or True (as liveness: alive until
    proven dead).
    """

    def __init__(self, probe: Probe, passing: bool | None = None) -> None:
        self.probe = probe
        self.passing = passing
        self.successes = 0
        self.failures = 0

    def record(self, success: bool) -> Verdict | None:
        if success:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.probe.success_threshold and self.passing is not True:
                self.passing = True
                return Verdict.PASS
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= self.probe.failure_threshold and self.passing is not False:
                self.passing = False
                return Verdict.FAIL
        return None


async def http_probe(
    host: str,
    port: int,
    path: str,
    timeout: float,  # noqa: ASYNC109 - the probe's own setting
) -> ProbeOutcome:
    """`GET path`: passes iff it answers with a 200-399 status line within `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            status = await _get_status(host, port, path)
    except TimeoutError:  # before OSError, of which it is a subclass
        return ProbeOutcome(False, f"timed out after {timeout:g}s")
    except ConnectionRefusedError:
        return ProbeOutcome(False, "connection refused")
    except OSError as exc:
        return ProbeOutcome(False, f"failed: {(exc.strerror or type(exc).__name__).lower()}")
    except ValueError as exc:
        return ProbeOutcome(False, str(exc))
    return ProbeOutcome(status in range(200, 400), f"answered {status}")


async def _get_status(host: str, port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "User-Agent: changeover-probe\r\nConnection: close\r\n\r\n"
        )
        writer.write(request.encode("latin-1"))
        line = await reader.readline()
    finally:
        writer.close()
        # The peer may already have reset the connection; closing is all we need.
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if not line:
        raise ValueError("closed the connection without answering")
    match = _STATUS_LINE.match(line)
    if match is None:
        raise ValueError(f"answered with no HTTP status line: {line[:40]!r}")
    return int(match.group(1))


async def probe_http(host: str, port: int, probe: Probe) -> ProbeOutcome:
    """The default prober: `http_probe` with the probe's path and timeout."""
    return await http_probe(host, port, probe.path, probe.timeout)
