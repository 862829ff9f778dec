"""The prometheus and web providers against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from changeover.analysis.model import Measurement, Outcome
from changeover.analysis.providers import Context, measure
from changeover.analysis.window import Window
from tests.io.analysis.fake_proxy import FakeProxy

from ._helpers import closed_port, http_server, metric

PASS, FAIL, INC, ERR = Outcome.PASSED, Outcome.FAILED, Outcome.INCONCLUSIVE, Outcome.ERROR


def _vector(*values: str) -> dict[str, Any]:
    result = [{"metric": {"pod": str(i)}, "value": [1.7e9, v]} for i, v in enumerate(values)]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


PROMETHEUS: dict[str, tuple[int, Any]] = {
    "scalar": (200, {"status": "success", "data": {"resultType": "scalar", "result": [1, "7"]}}),
    "one": (200, _vector("2.5")),
    "empty": (200, _vector()),
    "nan": (200, _vector("NaN")),
    "two": (200, _vector("1", "2")),
    "matrix": (200, {"status": "success", "data": {"resultType": "matrix", "result": []}}),
    "bad": (400, {"status": "error", "errorType": "bad_data", "error": "parse error at char 4"}),
    "boom": (500, b"internal\nerror"),
    "html": (200, b"<html>"),
}


def route(path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
    if path == "/api/v1/query":
        return PROMETHEUS[query["query"][0]]
    if path == "/stats":
        return 200, {"ok_ratio": 0.85, "healthy": False, "up": True, "n": None, "s": "0.5"}
    if path == "/list":
        return 200, [{"v": 3}]
    return 503, {"error": "down"}


def run_measure(m: Any, timeout: float = 5.0) -> Measurement:
    async def main() -> Measurement:
        empty = Window.between(1, None, FakeProxy().sample(), 1.0)
        async with httpx.AsyncClient() as http:
            return await measure(m, Context(empty, None, at=42.0, http=http, timeout=timeout))

    return asyncio.run(main())


def prom(query: str, address: str, **bounds: Any) -> Any:
    return metric(provider="prometheus", address=address, query=query, **bounds)


@pytest.mark.parametrize(
    ("query", "bounds", "outcome", "value", "message"),
    [
        ("scalar", {"max": 5}, FAIL, 7.0, "prometheus 7 > max 5 (scalar)"),
        ("one", {"max": 5}, PASS, 2.5, "prometheus 2.5 <= max 5 (one)"),
        ("empty", {"max": 5}, INC, None, "{a}: the query returned no series: inconclusive"),
        ("nan", {"max": 5}, INC, None, "{a}: the query returned NaN: inconclusive"),
        ("two", {}, ERR, None, "{a}: the query returned 2 series; expected one"),
        ("matrix", {}, ERR, None, "{a}: the query returned a matrix; expected a scalar"),
        ("bad", {}, ERR, None, "{a}: query failed (bad_data): parse error at char 4"),
        ("boom", {}, ERR, None, "{a}: HTTP 500"),
        ("html", {}, ERR, None, "{a}: the answer is not a query result"),
    ],
)
def test_prometheus_answers(
    query: str, bounds: dict[str, Any], outcome: Outcome, value: float | None, message: str
) -> None:
    with http_server(route) as (base, seen):
        got = run_measure(prom(query, base + "/", **bounds))
    assert (got.outcome, got.at) == (outcome, 42.0)
    assert got.value == value or (value is None and outcome is not PASS)
    assert got.message.startswith(message.format(a=f"prometheus {base}"))
    assert seen == [f"/api/v1/query?query={query}"]


def test_prometheus_down_is_inconclusive_and_says_connection_refused() -> None:
    address = f"http://127.0.0.1:{closed_port()}"
    got = run_measure(prom("up", address))
    assert (got.outcome, got.message) == (
        INC,
        f"prometheus {address}: connection refused: no measurement, inconclusive",
    )


def test_prometheus_address_without_scheme_is_an_error_naming_the_url_form() -> None:
    got = run_measure(prom("up", "127.0.0.1:9090"))
    assert got.outcome is ERR
    assert "expected http://host:port" in got.message


def test_a_server_slower_than_the_timeout_is_inconclusive() -> None:
    release = threading.Event()

    def stuck(path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        release.wait(30)  # answers only after the test is done
        return route(path, query)

    with http_server(stuck) as (base, _):
        got = run_measure(prom("one", base), timeout=0.1)
        release.set()
    assert (got.outcome, got.message) == (
        INC,
        f"prometheus {base}: timed out after 100ms: no measurement, inconclusive",
    )


@pytest.mark.parametrize(
    ("path", "json_path", "bounds", "outcome", "message"),
    [
        ("/stats", "$.ok_ratio", {"min": 0.9}, FAIL, "web $.ok_ratio 0.85 < min 0.9"),
        ("/stats", "ok_ratio", {"min": 0.8}, PASS, "web $.ok_ratio 0.85 >= min 0.8"),
        ("/stats", "$.healthy", {}, FAIL, "web $.healthy is false"),
        ("/stats", "$.up", {}, PASS, "web $.up is true"),
        ("/stats", "$.up", {"min": 1}, PASS, "web $.up 1 >= min 1"),
        ("/stats", "$.s", {"max": 1}, PASS, "web $.s 0.5 <= max 1"),
        ("/stats", "$.n", {"max": 1}, INC, "web $.n is null: inconclusive"),
        ("/list", "$[0].v", {"max": 1}, FAIL, "web $[0].v 3 > max 1"),
        ("/stats", "$.missing", {}, ERR, "{u}: no key 'missing' in the object at $"),
        ("/stats", "$", {}, ERR, "{u}: expected a number or a boolean at $, got an object"),
        ("/down", "$.x", {}, ERR, "{u}: HTTP 503"),
    ],
)
def test_web_endpoint(
    path: str, json_path: str, bounds: dict[str, Any], outcome: Outcome, message: str
) -> None:
    with http_server(route) as (base, _):
        url = base + path
        got = run_measure(metric(provider="web", url=url, json_path=json_path, **bounds))
    assert (got.outcome, got.message) == (outcome, message.format(u=f"web {url}"))


def test_web_endpoint_that_is_down_is_an_error() -> None:
    url = f"http://127.0.0.1:{closed_port()}/stats"
    got = run_measure(metric(provider="web", url=url, json_path="$.x"))
    assert (got.outcome, got.message) == (ERR, f"web {url}: connection refused")
