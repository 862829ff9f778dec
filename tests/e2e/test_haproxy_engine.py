"""`[proxy] engine = "haproxy"`: rollouts carried out by a real HAProxy (Debian's, 2.6)
through its runtime API, under continuous keep-alive load, with zero failed requests.

A rolling deploy, a canary whose weights HAProxy splits (measured at 10 % and 50 %), an
analysis that reads HAProxy's counters, and faulty releases rolled back: one that
crashes at boot, one whose canary answers 30 % 5xx. Rollouts parametrized over both
engines live beside their builtin versions (test_rolling.py, test_progressive.py).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import httpx
import pytest

from changeover.loadgen import BackgroundLoad, Report, run
from tests.e2e.harness import MIX, SLO, Service
from tests.helpers import wait_for
from tests.parts import require


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    require("haproxy", "haproxy")


def load(url: str, rate: float = 400) -> BackgroundLoad:
    return BackgroundLoad(
        url, rate=rate, connections=24, templates=MIX, timeout=30, count_header="X-Version"
    )


def clean(report: Report | None) -> Report:
    assert report is not None
    assert report.failed == 0, report.summary()
    assert report.in_flight == 0
    assert report.ok == report.sent > 0
    return report


def deploy(service: Service, version: str, *args: str) -> subprocess.CompletedProcess[str]:
    return service.cli("deploy", "--version", version, "--env", f"HELLO_VERSION={version}", *args)


def phase(service: Service) -> str:
    rollout = service.status()["rollout"]
    return str(rollout["phase"]) if rollout else ""


def share(url: str, version: str, requests: int = 2000) -> float:
    report = asyncio.run(
        run(url + "/", rate=1000, connections=8, requests=requests, count_header="X-Version")
    )
    assert report.failed == 0, report.summary()
    return report.header_counts.get(version, 0) / requests


def test_rolling_deploys_under_load_fail_no_request(service: Service) -> None:
    service.write_spec(engine="haproxy", extra='\n[ops]\nlisten = "127.0.0.1:0"\n')
    url = service.up()
    doc = service.status()
    assert doc["agent"]["engine"] == "haproxy"
    with load(url) as gen:
        for version in ("v2", "v3"):
            result = deploy(service, version)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "is stable" in result.stdout
    report = clean(gen.report)
    assert report.status_codes == {"200": report.sent}
    assert report.connections_opened < report.sent / 10  # keep-alive really kept
    assert all(report.header_counts.get(v, 0) > 0 for v in ("v1", "v2", "v3"))
    doc = service.status()
    assert doc["stable_revision"] == 3
    live = [r for r in doc["replicas"] if r["state"] != "exited"]
    assert sorted((r["revision"], r["state"]) for r in live) == [(3, "ready"), (3, "ready")]
    # every request the load sent is counted by HAProxy, per revision, deleted servers too
    served = {r["revision"]: r["metrics"]["requests"] for r in doc["revisions"]}
    assert sum(served.values()) >= report.sent
    for revision in doc["revisions"]:
        latency = revision["metrics"]["latency"]
        assert latency["count"] > 0
        assert latency["p50"] is not None
    # Prometheus reads the same per-revision figures (latencies from the request log)
    scrape = httpx.get(f"http://{doc['agent']['ops_listen']}/metrics", timeout=10).text
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in scrape.splitlines()
        if line.startswith("http_server_request_duration_seconds_count{")
        and 'revision="3"' in line
        and 'status_class="2xx"' in line
    ]
    assert counted, scrape[:2000]
    assert counted[0] > 0
    config = (service.state / "haproxy.cfg").read_text()
    assert "retry-on conn-failure empty-response" in config
    assert "server " not in config.split("backend replicas", 1)[1].replace("# servers", "")


def test_canary_weights_and_analysis_under_load(service: Service) -> None:
    steps = (
        '[{ set_weight = 10 }, { pause = {} }, { analysis = "slo" }, { set_weight = 50 },'
        " { pause = {} }]"
    )
    service.write_spec(
        engine="haproxy", replicas=4, extra=f'type = "canary"\nsteps = {steps}\n' + SLO
    )
    url = service.up()
    with load(url, rate=300) as gen:
        started = deploy(service, "v2", "--no-wait")
        assert started.returncode == 0, started.stderr
        wait_for(lambda: phase(service) == "paused", 60, "weight 10, paused")
        assert service.status()["weights"] == {"1": 90, "2": 10}
        assert 0.07 <= share(url, "v2") <= 0.13
        assert service.cli("promote").returncode == 0
        wait_for(lambda: service.status()["weights"] == {"1": 50, "2": 50}, 30, "weight 50")
        wait_for(lambda: phase(service) == "paused", 30, "weight 50, paused")
        assert 0.45 <= share(url, "v2") <= 0.55
        assert service.cli("promote").returncode == 0
        wait_for(lambda: phase(service) == "succeeded", 60, "canary done")
    clean(gen.report)
    doc = service.status()
    assert doc["stable_revision"] == 2
    runs = {r["key"]: r for r in doc["progress"]["analysis"]}
    measured = runs["step-2"]["measurements"]
    assert measured
    assert all(m["outcome"] == "passed" for m in measured)


def test_release_crashing_at_boot_is_rolled_back_without_failures(service: Service) -> None:
    service.write_spec(engine="haproxy", deadline="6s")
    url = service.up()
    with load(url) as gen:
        result = deploy(service, "v2", "--env", "CRASH_AT_BOOT=1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "revision 1 still serving" in result.stdout + result.stderr
    report = clean(gen.report)
    assert set(report.header_counts) == {"v1"}
    doc = service.status()
    assert doc["stable_revision"] == 1
    assert doc["rollout"]["phase"] == "failed"


def test_canary_answering_5xx_is_aborted_by_analysis(service: Service) -> None:
    steps = '[{ set_weight = 20 }, { analysis = "slo" }, { set_weight = 100 }]'
    service.write_spec(engine="haproxy", extra=f'type = "canary"\nsteps = {steps}\n' + SLO)
    url = service.up()
    with load(url, rate=300) as during:
        result = deploy(service, "v2", "--env", "FAILURE_RATE=0.3")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "success_rate" in result.stdout, result.stdout
    assert during.report is not None
    # the canary's own 500s are the only failures: never a reset or a refused connection
    assert during.report.failed == during.report.status, during.report.summary()
    with load(url, rate=200) as after:
        time.sleep(2)
    assert set(clean(after.report).header_counts) == {"v1"}
    doc = service.status()
    assert doc["stable_revision"] == 1
    failed = {r["revision"]: r["metrics"] for r in doc["revisions"]}.get(2)
    assert failed is None or failed["status"]["5xx"] > 0


def test_check_reports_the_engine_and_a_spec_it_cannot_serve(service: Service) -> None:
    service.write_spec(engine="haproxy")
    ok = service.cli("check")
    assert ok.returncode == 0, ok.stderr
    assert "engine haproxy: HAProxy 2." in ok.stdout, ok.stdout
    sticky = 'type = "canary"\nsticky = "cookie:user"\n'
    service.write_spec(engine="haproxy", extra=sticky)
    served = service.cli("check")  # sticky users are served by this engine too
    assert served.returncode == 0, served.stderr
    route = '{ set_header_route = { header = "x-group", regex = "beta[^;]*" } }'
    service.write_spec(engine="haproxy", extra=f"{sticky}steps = [{route}]\n")
    refused = service.cli("check")
    assert refused.returncode == 2
    said = (
        "strategy.steps[0].set_header_route.regex: "
        'with proxy.engine = "haproxy" (PCRE2) the regex can match a line feed'
    )
    assert said in refused.stderr, refused.stderr
    history = service.cli("history", "--json")  # no agent: nothing was started
    assert history.returncode != 0 or not json.loads(history.stdout).get("revisions")
