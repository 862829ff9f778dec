"""Live counters of a run.

Invariant: every request is counted by `begin` exactly once and by `finish` exactly once,
so `sent == finished + in_flight` at every moment and nothing is dropped from the tally.
"""

from __future__ import annotations

import time
from collections import Counter

from changeover.loadgen.histogram import Histogram
from changeover.loadgen.outcome import FAILURES, Outcome
from changeover.loadgen.report import FailureRecord, Report

MISSING_HEADER = "(none)"


class Tally:
    """Mutable counts owned by the event loop thread; `report()` copies them out."""

    def __init__(self, count_header: str | None, max_failure_records: int) -> None:
        self.count_header = count_header
        self.max_failure_records = max_failure_records
        self.sent = 0
        self.late = 0
        self.connections_opened = 0
        self.outcomes: Counter[Outcome] = Counter()
        self.status_codes: Counter[int] = Counter()
        self.header_counts: Counter[str] = Counter()
        self.latency = Histogram()
        self.failures: list[FailureRecord] = []
        self.failures_dropped = 0
        self.started: float | None = None
        self.ended: float | None = None

    def clock(self) -> float:
        """Seconds since the run started (perf_counter: uvloop's loop clock is in ms)."""
        return 0.0 if self.started is None else time.perf_counter() - self.started

    def begin(self) -> None:
        """A request is being issued."""
        self.sent += 1

    def finish_ok(self, latency: float, status: int, header: str | None) -> None:
        """Fast path for the common case: a complete 2xx response that passed its check."""
        self.outcomes[Outcome.OK] += 1
        self.latency.record(latency)
        self.response(status, header)

    def response(self, status: int, header: str | None) -> None:
        """Count a complete response by status code and by the counted header."""
        self.status_codes[status] += 1
        if self.count_header is not None:
            self.header_counts[MISSING_HEADER if header is None else header] += 1

    def finish_failed(self, kind: Outcome, status: int | None, path: str, reuse: int) -> None:
        """Count a failed request and keep its record while under the limit."""
        self.outcomes[kind] += 1
        if len(self.failures) < self.max_failure_records:
            t = round(self.clock(), 6)
            self.failures.append(FailureRecord(t, kind.value, status, path, reuse))
        else:
            self.failures_dropped += 1

    def report(self) -> Report:
        """A consistent copy of the counts so far."""
        elapsed = self.clock() if self.ended is None else self.ended
        finished = sum(self.outcomes.values())
        failed = sum(self.outcomes[k] for k in FAILURES)
        hist = self.latency
        return Report(
            sent=self.sent,
            completed=sum(self.status_codes.values()),
            in_flight=self.sent - finished,
            failed=failed,
            late=self.late,
            connections_opened=self.connections_opened,
            elapsed=elapsed,
            rps=finished / elapsed if elapsed > 0 else 0.0,
            latency_p50=hist.percentile(0.5),
            latency_p90=hist.percentile(0.9),
            latency_p99=hist.percentile(0.99),
            latency_max=hist.max if hist.count else None,
            status_codes={str(code): n for code, n in sorted(self.status_codes.items())},
            count_header=self.count_header,
            header_counts=dict(sorted(self.header_counts.items())),
            failures=tuple(self.failures),
            failures_dropped=self.failures_dropped,
            ok=self.outcomes[Outcome.OK],
            status=self.outcomes[Outcome.STATUS],
            bad_body=self.outcomes[Outcome.BAD_BODY],
            refused=self.outcomes[Outcome.REFUSED],
            connect_error=self.outcomes[Outcome.CONNECT_ERROR],
            reset_fresh=self.outcomes[Outcome.RESET_FRESH],
            reset_reused=self.outcomes[Outcome.RESET_REUSED],
            reset_mid_response=self.outcomes[Outcome.RESET_MID_RESPONSE],
            timeout=self.outcomes[Outcome.TIMEOUT],
            protocol_error=self.outcomes[Outcome.PROTOCOL_ERROR],
        )
