"""The `web` provider: GET a URL, read one value from its JSON body with `json_path`.

Invariant: a number is judged against min/max; a boolean passes (true) or fails (false)
when the metric has no min/max, else counts as 1 or 0; null is inconclusive; a non-2xx
answer, a body that is not JSON, a missing path or any other type is an error
measurement whose message starts with `web {url}:`. Without `json_path` the whole body
is the value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from changeover.analysis.http import ProviderError, get_json
from changeover.analysis.jsonpath import JsonPathError, format_path, lookup, parse_path
from changeover.analysis.model import Measurement, Outcome
from changeover.analysis.verdict import judge, measurement, where

if TYPE_CHECKING:  # runtime import would cycle: spec.rules imports analysis.builtin
    from changeover.spec.models import Metric


async def measure(metric: Metric, http: httpx.AsyncClient, at: float, limit: float) -> Measurement:
    origin = where(metric)
    try:
        path = parse_path(metric.json_path) if metric.json_path else ()
        status, body = await get_json(http, metric.url or "", limit)
        if not 200 <= status < 300:
            raise ProviderError(f"HTTP {status}")
        if body is None:
            raise ProviderError("the response body is not JSON")
        value = lookup(body, path)
        number = _number(value, format_path(path))
    except (ProviderError, JsonPathError) as exc:
        return measurement(metric, Outcome.ERROR, at, f"{origin}: {exc}")
    label = f"web {format_path(path)}"
    if isinstance(value, bool) and metric.min is None and metric.max is None:
        outcome = Outcome.PASSED if value else Outcome.FAILED
        return measurement(metric, outcome, at, f"{label} is {str(value).lower()}", number)
    if number is None:
        return measurement(metric, Outcome.INCONCLUSIVE, at, f"{label} is null: inconclusive")
    return judge(metric, label, number, at)


def _number(value: Any, where: str) -> float | None:
    """`value` as a number (booleans 1/0, numeric strings parsed); None for null."""
    if value is None or isinstance(value, bool | int | float):
        return None if value is None else float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    kind = "an object" if isinstance(value, dict) else "a list" if isinstance(value, list) else ""
    kind = kind or f"the string {value!r}"[:80]
    raise ProviderError(f"expected a number or a boolean at {where}, got {kind}")
