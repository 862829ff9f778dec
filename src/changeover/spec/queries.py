"""The names of the builtin analysis queries: part of the spec's contract.

Invariant: `BUILTIN_QUERIES` is exactly the set `analysis.builtin` can evaluate (its
import checks that), so a spec that passes `check_query` never names a query the agent
cannot run. The standard library only: `spec.rules` validates names without loading
the analysis package, which sits above the spec.
"""

from __future__ import annotations

PERCENTILES = ("p50", "p90", "p95", "p99")
SINGLE: tuple[str, ...] = (
    "success_rate",
    "error_rate",
    "request_rate",
    *(f"latency_{p}" for p in PERCENTILES),
    "crash_rate",
)
COMPARED: tuple[str, ...] = (
    *(f"latency_{p}_ratio" for p in PERCENTILES),
    "error_rate_diff",
    "success_rate_diff",
)
BUILTIN_QUERIES: tuple[str, ...] = (*SINGLE, *COMPARED)
# seconds: a latency ratio raises both latencies to this floor (a metric's `floor`
# overrides it); below it, a busy 2-core machine moves latencies by 10x for no reason
DEFAULT_FLOOR = 0.005


def check_query(query: str | None) -> str:
    """`query` if it is a builtin query, else ValueError listing the valid ones."""
    if query not in BUILTIN_QUERIES:
        raise ValueError(
            f"unknown builtin query {query!r}; expected one of: {', '.join(BUILTIN_QUERIES)}"
        )
    return query
