"""The `prometheus` provider: one instant query, `GET {address}/api/v1/query`.

Invariant: a scalar, or a vector with exactly one sample, gives the value; an empty
vector, NaN or an unreachable Prometheus (refused, timed out) is inconclusive: a
monitoring outage says nothing about the release, so it pauses a rollout for a person
instead of rolling it back; anything else (an HTTP error status, a `status: error`
answer, several series, another result type) is an error measurement. Every message
starts with `prometheus {address}:`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import httpx

from changeover.analysis.http import ProviderError, Unreachable, get_json
from changeover.analysis.model import Measurement, Outcome, one_line
from changeover.analysis.verdict import judge, measurement, where

if TYPE_CHECKING:  # runtime import would cycle: spec.rules imports analysis.builtin
    from changeover.spec.models import Metric


def _value(body: Any) -> float | None:
    """The query's single value (None for an empty vector); ProviderError otherwise."""
    data: Any = body.get("data") if isinstance(body, dict) else None
    kind: Any = data.get("resultType") if isinstance(data, dict) else None
    result: Any = data.get("result") if isinstance(data, dict) else None
    if kind is None:
        raise ProviderError("the answer is not a query result (no JSON data.resultType)")
    try:
        if kind == "scalar":
            return float(result[1])  # [unix_time, "value"]
        if kind == "vector" and isinstance(result, list):
            if not result:
                return None
            if len(result) > 1:
                raise ProviderError(
                    f"the query returned {len(result)} series; expected one "
                    "(aggregate it, e.g. with sum(...))"
                )
            return float(result[0]["value"][1])
    except (TypeError, KeyError, IndexError, ValueError):
        raise ProviderError(f"malformed {kind} result: {one_line(repr(result), 120)}") from None
    raise ProviderError(f"the query returned a {kind}; expected a scalar or a one-series vector")


async def measure(metric: Metric, http: httpx.AsyncClient, at: float, limit: float) -> Measurement:
    address = (metric.address or "").rstrip("/")
    origin = where(metric)
    try:
        status, body = await get_json(
            http, f"{address}/api/v1/query", limit, {"query": metric.query or ""}
        )
        if isinstance(body, dict) and body.get("status") == "error":
            kind, error = body.get("errorType", "error"), body.get("error", "")
            raise ProviderError(f"query failed ({kind}): {one_line(str(error), 200)}")
        if not 200 <= status < 300:
            raise ProviderError(f"HTTP {status}")
        value = _value(body)
    except Unreachable as exc:
        text = f"{origin}: {exc}: no measurement, inconclusive"
        return measurement(metric, Outcome.INCONCLUSIVE, at, text)
    except ProviderError as exc:
        return measurement(metric, Outcome.ERROR, at, f"{origin}: {exc}")
    if value is None or math.isnan(value):
        what = "no series" if value is None else "NaN"
        text = f"{origin}: the query returned {what}: inconclusive"
        return measurement(metric, Outcome.INCONCLUSIVE, at, text, value)
    return judge(metric, "prometheus", value, at, detail=one_line(metric.query or "", 80))
