"""The report of a load run.

Invariant: a report is a plain value (no live references into a running generator), and
`sent == ok + failed + in_flight` with `failed` equal to the sum of the failure kinds;
a final report has `in_flight == 0`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from changeover.loadgen.outcome import Outcome


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """One failed request, for aligning failures with deploy events."""

    t: float
    """Seconds from the start of the run to when the failure was observed."""
    kind: str
    status: int | None
    path: str
    reuse: int
    """Index of the request on its connection; 0 means a connection opened for it."""


@dataclass(frozen=True, slots=True)
class Report:
    """Counts of every request outcome, latency of ok responses and failure details."""

    sent: int = 0
    completed: int = 0
    """Requests that got a complete HTTP response (ok, status or bad_body)."""
    in_flight: int = 0
    ok: int = 0
    status: int = 0
    bad_body: int = 0
    refused: int = 0
    connect_error: int = 0
    reset_fresh: int = 0
    reset_reused: int = 0
    reset_mid_response: int = 0
    timeout: int = 0
    protocol_error: int = 0
    failed: int = 0
    late: int = 0
    connections_opened: int = 0
    elapsed: float = 0.0
    rps: float = 0.0
    """Finished requests per second of elapsed time."""
    latency_p50: float | None = None
    latency_p90: float | None = None
    latency_p99: float | None = None
    latency_max: float | None = None
    status_codes: dict[str, int] = field(default_factory=dict)
    """Every complete response by status code, 2xx included."""
    count_header: str | None = None
    header_counts: dict[str, int] = field(default_factory=dict)
    """Complete responses by value of `count_header` ("(none)" when absent)."""
    failures: tuple[FailureRecord, ...] = ()
    failures_dropped: int = 0
    """Failures beyond the record limit: counted above, but without a record."""

    def outcomes(self) -> dict[str, int]:
        """Count per failure kind and ok, in a fixed order."""
        return {kind.value: getattr(self, kind.value) for kind in Outcome}

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (only str keys, numbers, None, lists and dicts)."""
        data = dataclasses.asdict(self)
        data["failures"] = [dataclasses.asdict(f) for f in self.failures]
        return data

    def summary(self) -> str:
        """A few human lines: volume, failures by kind, latency, header counts."""
        lines = [
            f"sent {self.sent} in {self.elapsed:.2f}s ({self.rps:.1f} req/s) over "
            f"{self.connections_opened} connections; ok {self.ok}, failed {self.failed}"
            + (f", in flight {self.in_flight}" if self.in_flight else "")
            + (f", late {self.late}" if self.late else "")
        ]
        bad = {k: n for k, n in self.outcomes().items() if n and k != "ok"}
        if bad:
            lines.append("failures: " + ", ".join(f"{k} {n}" for k, n in bad.items()))
        codes = {c: n for c, n in self.status_codes.items() if not c.startswith("2")}
        if codes:
            lines.append("non-2xx: " + ", ".join(f"{c} x{n}" for c, n in sorted(codes.items())))
        if self.latency_max is not None:
            lines.append("latency " + ", ".join(f"{k} {_ms(v)}" for k, v in self._latencies()))
        if self.count_header is not None:
            counts = ", ".join(f"{v} {n}" for v, n in sorted(self.header_counts.items()))
            lines.append(f"{self.count_header}: {counts or '-'}")
        return "\n".join(lines)

    def _latencies(self) -> list[tuple[str, float | None]]:
        return [
            ("p50", self.latency_p50),
            ("p90", self.latency_p90),
            ("p99", self.latency_p99),
            ("max", self.latency_max),
        ]


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}ms"
