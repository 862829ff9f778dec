"""The `prometheus` provider against a real Prometheus (Debian's), not a fake: one series
judged, a scalar, no series (inconclusive), several series and a bad query (errors),
and a Prometheus that is down, whose run is never a pass."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from changeover.analysis import prometheus as provider
from changeover.analysis.model import Outcome, RunStatus
from changeover.analysis.runner import Runner
from tests.helpers import bounded, free_port, wait_for
from tests.monitoring import Server, prometheus, query

from ._helpers import metric, template

EXPOSITION = b"""\
# HELP demo_requests_total Requests.
# TYPE demo_requests_total counter
demo_requests_total{path="/a"} 10
demo_requests_total{path="/b"} 30
# HELP demo_error_ratio Errors per request.
# TYPE demo_error_ratio gauge
demo_error_ratio 0.02
"""


class Exporter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(EXPOSITION)))
        self.end_headers()
        self.wfile.write(EXPOSITION)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    folder = tmp_path_factory.mktemp("prometheus")
    server = prometheus(folder, targets=[f"127.0.0.1:{exporter.server_port}"])
    try:
        wait_for(lambda: query(server, "demo_error_ratio"), 30, "a first scrape", every=0.2)
        yield server
    finally:
        server.stop()
        exporter.shutdown()
        exporter.server_close()


def measure(address: str, promql: str, **bounds: Any) -> Any:
    m = metric(provider="prometheus", address=address, query=promql, **bounds)

    async def go() -> Any:
        async with httpx.AsyncClient() as http:
            return await provider.measure(m, http, at=7.0, limit=5.0)

    return bounded(go(), 20)


def test_one_series_is_judged_against_the_bounds(real: Server) -> None:
    ok = measure(real.url, "demo_error_ratio", max=0.05)
    assert (ok.outcome, ok.value) == (Outcome.PASSED, pytest.approx(0.02))
    assert ok.message == "prometheus 0.02 <= max 0.05 (demo_error_ratio)"
    bad = measure(real.url, "demo_error_ratio", max=0.01)
    assert bad.outcome is Outcome.FAILED
    assert bad.message == "prometheus 0.02 > max 0.01 (demo_error_ratio)"


def test_a_scalar_and_an_aggregate_are_single_values(real: Server) -> None:
    assert measure(real.url, "scalar(demo_error_ratio)", max=0.05).value == pytest.approx(0.02)
    assert measure(real.url, "sum(demo_requests_total)", min=40).outcome is Outcome.PASSED


def test_no_series_is_inconclusive_never_a_pass(real: Server) -> None:
    got = measure(real.url, "demo_missing", max=1)
    assert got.outcome is Outcome.INCONCLUSIVE
    assert got.message == f"prometheus {real.url}: the query returned no series: inconclusive"


def test_several_series_and_a_bad_query_are_errors_that_say_why(real: Server) -> None:
    several = measure(real.url, "demo_requests_total", max=100)
    assert several.outcome is Outcome.ERROR
    assert several.message.endswith(
        "the query returned 2 series; expected one (aggregate it, e.g. with sum(...))"
    )
    broken = measure(real.url, "sum(", max=1)
    assert broken.outcome is Outcome.ERROR
    assert broken.message.startswith(f"prometheus {real.url}: query failed (bad_data): ")


def test_a_prometheus_that_is_down_is_inconclusive_and_its_run_never_passes(
    tmp_path: Path,
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    got = measure(down, "demo_error_ratio", max=0.05)
    assert got.outcome is Outcome.INCONCLUSIVE
    assert "connection refused" in got.message.lower()
    spec = {"name": "errors", "provider": "prometheus", "address": down,
            "query": "demo_error_ratio", "max": 0.05}  # fmt: skip

    async def run(limit: int) -> RunStatus:
        runner = Runner(
            "slo",
            template(spec, interval="10ms", count=3, consecutive_error_limit=limit),
            canary=2,
            baseline=1,
            sample=lambda: {"revisions": {}},
        )
        return await runner.run()

    # no measurement is no pass: the run is inconclusive whatever the error limit
    assert bounded(run(limit=0), 20) is RunStatus.INCONCLUSIVE
    assert bounded(run(limit=10), 20) is RunStatus.INCONCLUSIVE
