"""`changeover verify` on the haproxy engine: the same verdict and report as on the
builtin proxy (test_verify.py), the windows' latencies read from HAProxy's sampled log."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import shared_service
from tests.e2e.harness import Service, engine_part
from tests.e2e.test_verify import SMALL, report_of, verify

rolling_haproxy = shared_service(engine="haproxy")


@pytest.mark.xdist_group("verify-rolling-haproxy")
def test_verify_on_haproxy_passes_a_redeploy_with_zero_failures(rolling_haproxy: Service) -> None:
    engine_part("haproxy")
    stable = rolling_haproxy.status()["stable_revision"]
    result = verify(rolling_haproxy, *SMALL, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = report_of(result)
    assert (doc["verdict"], doc["passed"], doc["exit_code"]) == ("passed", True, 0)
    assert doc["rollout"]["phase"] == "succeeded"
    assert doc["rollout"]["to_revision"] > stable
    load = doc["load"]
    assert load["failed"] == 0
    assert load["ok"] == load["sent"] >= 200
    assert doc["failures"] == []
    assert all(w["requests"] > 0 and w["latency"]["p50"] for w in doc["windows"])
    assert rolling_haproxy.status()["agent"]["engine"] == "haproxy"
