"""Probe results counted into verdicts, and the HTTP probe itself.

Invariant: a `ProbeTracker` emits a verdict only when its pass/fail status changes, and
only after `success_threshold` consecutive successes (pass) or `failure_threshold`
consecutive failures (fail), as Kubernetes counts them. The counting is pure.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re

from changeover.spec.models import Probe

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])[ \r\n]")


class Verdict(enum.Enum):
    PASS = "pass"
    FAIL = "fail"


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


async def http_probe(host: str, port: int, path: str, timeout: float) -> bool:  # noqa: ASYNC109
    """True iff `GET path` answers with a 200-399 status line within `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            return await _get_status(host, port, path) in range(200, 400)
    except (OSError, TimeoutError, ValueError):
        return False


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
    match = _STATUS_LINE.match(line)
    if match is None:
        raise ValueError(f"not an HTTP status line: {line[:80]!r}")
    return int(match.group(1))


async def probe_http(host: str, port: int, probe: Probe) -> bool:
    """The default prober: `http_probe` with the probe's path and timeout."""
    return await http_probe(host, port, probe.path, probe.timeout)
