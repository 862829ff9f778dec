"""`[proxy] log_sample = "auto"` on a real agent and HAProxy: under a load well over 500
requests a second the agent raises the level (one logged response in 2^level, said by
`status --json`), latencies keep arriving, no request fails while HAProxy's sample map is
rewritten under it, and once the load stops the level falls back to every response.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from changeover.loadgen import BackgroundLoad, Template
from tests.e2e.harness import Service
from tests.helpers import free_port, wait_for
from tests.parts import require

RATE = 1500  # three times the cap (500 lines a second): the level rises to 2 (1 in 4)


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    require("haproxy", "haproxy")


def sampled(service: Service) -> dict[str, Any]:
    value: dict[str, Any] = service.status()["agent"]["log_sample"]
    return value


def exported(ops: str) -> float:
    """What Prometheus scrapes: one request in how many is in the latency histogram."""
    text = httpx.get(f"{ops}/metrics", timeout=10).text
    found = re.search(r"^changeover_proxy_latency_sample_one_in\{[^}]*\} (\S+)$", text, re.M)
    assert found is not None, text[:500]
    return float(found.group(1))


def measured(service: Service) -> int:
    """Latencies revision 1 has had measured so far (the log's lines)."""
    revision = next(r for r in service.status()["revisions"] if r["revision"] == 1)
    return int(revision["metrics"]["latency"]["count"])


def test_the_level_rises_under_load_with_zero_failures_and_falls_after(
    service: Service,
) -> None:
    port = free_port()
    service.write_spec(engine="haproxy", extra=f'\n[ops]\nlisten = "127.0.0.1:{port}"\n')
    ops = f"http://127.0.0.1:{port}"
    url = service.up()
    assert sampled(service) == {"mode": "auto", "one_in": 1, "level": 0}
    assert exported(ops) == 1
    with BackgroundLoad(
        url, rate=RATE, connections=16, templates=(Template(method="GET", path="/"),), timeout=30
    ) as gen:
        raised = wait_for(
            lambda: (s := sampled(service))["level"] >= 1 and s, 60, "the level raised"
        )
        assert raised["one_in"] == 2 ** raised["level"]
        wait_for(lambda: exported(ops) >= 2, 30, "Prometheus told of the sampling")
        before = measured(service)
        wait_for(lambda: measured(service) > before + 100, 30, "latencies still measured")
    report = gen.report
    assert report is not None
    assert report.failed == 0, report.summary()
    assert report.ok == report.sent > 0
    # no traffic for a whole window (5 s): every response is logged again
    wait_for(lambda: sampled(service)["level"] == 0, 30, "the level back at 0")
    assert exported(ops) == 1
