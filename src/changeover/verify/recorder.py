"""Per-request latency samples from the load generator, without changing `loadgen`.

Invariant: once attached (before the load starts), every ok request the generator
counts is also recorded once as (finish time since the load started, latency), on the
generator's own clock, so the samples line up with its failure records.

`loadgen` keeps only a latency histogram for the whole run; the windows before, during
and after a rollout need each request's finish time, so the load is given a tally that
also records them.
"""

from __future__ import annotations

import time
from typing import Any

from changeover.loadgen import BackgroundLoad
from changeover.loadgen.tally import Tally
from changeover.verify.windows import Samples


class RecordingTally(Tally):
    """A tally that also keeps each ok request's finish time and latency."""

    def __init__(self, count_header: str | None, max_failure_records: int) -> None:
        super().__init__(count_header, max_failure_records)
        self.samples = Samples()

    def finish_ok(self, latency: float, status: int, header: str | None) -> None:
        super().finish_ok(latency, status, header)
        self.samples.add(self.clock(), latency)

    def wall_start(self) -> float:
        """Unix time of the load's t = 0 (the base of failure and sample times)."""
        if self.started is None:
            raise RuntimeError("the load has not started yet")
        return time.time() - (time.perf_counter() - self.started)


def recorded_load(url: str, **options: Any) -> tuple[BackgroundLoad, RecordingTally]:
    """A `BackgroundLoad` (same options) whose ok requests are also sampled."""
    tally = RecordingTally(options.get("count_header"), options.get("max_failure_records", 1000))
    return BackgroundLoad(url, tally=tally, **options), tally
