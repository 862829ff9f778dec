"""Canary and blue-green rollouts under continuous keep-alive load, through the real CLI."""

from __future__ import annotations

import asyncio
import http.client
import subprocess
import time
from collections import Counter

import httpx
import pytest

from changeover.loadgen import BackgroundLoad, Report, Template, run
from tests.e2e.harness import ENGINES, MIX, SLO, Service, engine_part
from tests.helpers import free_port, wait_for


def load(url: str, rate: float = 300, templates: tuple[Template, ...] = MIX) -> BackgroundLoad:
    return BackgroundLoad(
        url, rate=rate, connections=16, templates=templates, timeout=30, count_header="X-Version"
    )


def clean(report: Report | None) -> Report:
    assert report is not None
    assert report.failed == 0, report.summary()
    assert report.ok == report.sent > 0
    return report


def deploy(service: Service, version: str, *args: str) -> subprocess.CompletedProcess[str]:
    return service.cli("deploy", "--version", version, "--env", f"HELLO_VERSION={version}", *args)


def phase(service: Service) -> str:
    rollout = service.status()["rollout"]
    return str(rollout["phase"]) if rollout else ""


def versions(url: str, n: int, headers: dict[str, str] | None = None) -> Counter[str]:
    with httpx.Client(headers=headers) as client:
        return Counter(client.get(url).headers["x-version"] for _ in range(n))


@pytest.mark.parametrize("engine", ENGINES)
def test_healthy_canary_with_analysis_completes_with_zero_failures(
    service: Service, engine: str
) -> None:
    steps = '[{ set_weight = 10 }, { analysis = "slo" }, { set_weight = 50 }, { pause = "1s" }]'
    service.write_spec(
        engine=engine_part(engine),
        extra=f'type = "canary"\nsteps = {steps}\nbackground_analysis = "slo"\n' + SLO,
    )
    url = service.up()
    with load(url) as gen:
        result = deploy(service, "v2")
        assert result.returncode == 0, result.stdout + result.stderr
    report = clean(gen.report)
    assert report.header_counts.get("v2", 0) > 0
    doc = service.status()
    assert doc["stable_revision"] == 2
    # the request log's sampling: "auto" by default on haproxy (every response under 500
    # a second); the builtin proxy measures every request and has none
    sampled = doc["agent"]["log_sample"]
    if engine == "haproxy":
        assert sampled["mode"] == "auto", sampled
        assert sampled["one_in"] == 2 ** sampled["level"], sampled
    else:
        assert sampled is None
    runs = {r["key"]: r for r in doc["progress"]["analysis"]}
    assert runs["step-1"]["status"] == "successful"
    assert runs["step-1"]["measurements"]
    assert all(m["outcome"] == "passed" for m in runs["step-1"]["measurements"])
    idle = service.cli("promote")
    assert idle.returncode == 2
    assert "no rollout is in progress" in idle.stderr


def test_canary_answering_30_percent_5xx_is_aborted_by_analysis(service: Service) -> None:
    steps = '[{ set_weight = 20 }, { analysis = "slo" }, { set_weight = 100 }]'
    service.write_spec(extra=f'type = "canary"\nsteps = {steps}\n' + SLO)
    url = service.up()
    with load(url) as during:
        result = deploy(service, "v2", "--env", "FAILURE_RATE=0.3")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "success_rate" in result.stdout, result.stdout
    assert "min 0.95" in result.stdout, result.stdout
    assert during.report is not None
    # the canary's own 500s are the only failures: never a reset or a refused connection
    failed, by_status = during.report.failed, during.report.status
    assert failed == by_status, during.report.summary()
    with load(url) as after:
        time.sleep(2)  # a while of traffic after the abort; the verdict is the count below
    assert set(clean(after.report).header_counts) == {"v1"}
    assert service.status()["stable_revision"] == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_canary_timing_out_is_aborted_by_analysis(service: Service, engine: str) -> None:
    """The proxy's own 504s are the canary's failed requests on both engines: HAProxy
    counts its own answers in no server's stats, so the agent takes them from its log."""
    # the pause: a window ending before the first 504 (1 s after the first request)
    # would hold no answer of the canary's, inconclusive, and wait for a person
    steps = '[{ set_weight = 20 }, { pause = "2s" }, { analysis = "slo" }, { set_weight = 100 }]'
    service.write_spec(
        engine=engine_part(engine), extra=f'type = "canary"\nsteps = {steps}\n' + SLO
    )
    listen = 'listen = "127.0.0.1:0"'
    text = service.spec.read_text().replace(listen, f'{listen}\nresponse_timeout = "1s"', 1)
    service.spec.write_text(text)
    url = service.up()
    with load(url, templates=(Template(method="GET", path="/"),)) as during:
        result = deploy(service, "v2", "--env", "LATENCY=3")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "success_rate" in result.stdout, result.stdout
    report = during.report
    assert report is not None
    # the canary's 504s are the only failures: never a reset or a refused connection
    assert report.failed == report.status > 0, report.summary()
    assert service.status()["stable_revision"] == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_canary_five_times_slower_is_aborted_by_a_ratio_metric(
    service: Service, engine: str
) -> None:
    ratio = """
[analysis.latency]
interval = "1s"
count = 3
[[analysis.latency.metrics]]
name = "slower"
provider = "builtin"
query = "latency_p95_ratio"
max = 2.0
min_requests = 1
"""
    # min_requests counts latencies for a latency query: the haproxy engine measures a
    # sample (proxy.log_sample "auto": every response under 500 a second, so all of the
    # canary's 60 a round here)
    steps = '[{ set_weight = 30 }, { analysis = "latency" }, { set_weight = 100 }]'
    service.write_spec(
        engine=engine_part(engine),
        env={"LATENCY": "0.01"},
        extra=f'type = "canary"\nsteps = {steps}\n' + ratio,
    )
    url = service.up()
    # only `/`: the mix's 700 ms requests would dominate both revisions' p95
    with load(url, rate=200, templates=(Template(method="GET", path="/"),)) as gen:
        result = deploy(service, "v2", "--env", "LATENCY=0.05")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "latency_p95_ratio" in result.stdout, result.stdout
    clean(gen.report)  # slow is not failed: no request fails either way


@pytest.mark.parametrize("engine", ENGINES)
def test_blue_green_promote_and_instant_undo_with_zero_failures(
    service: Service, engine: str
) -> None:
    preview = free_port()
    service.write_spec(
        engine=engine_part(engine),
        extra=f'type = "blue-green"\nauto_promote = false\npreview_listen = "127.0.0.1:{preview}"\n'
        'scale_down_delay = "60s"\n',
    )
    url = service.up()
    with load(url) as gen:
        started = deploy(service, "v2", "--no-wait")
        assert started.returncode == 0, started.stderr
        wait_for(lambda: phase(service) == "paused", 60, "preview ready, waiting for promote")
        assert versions(f"http://127.0.0.1:{preview}/", 20) == {"v2": 20}
        # the preview listener under load of its own: every request served, by v2 only
        on_preview = asyncio.run(
            run(
                f"http://127.0.0.1:{preview}/",
                rate=300,
                connections=8,
                requests=600,
                count_header="X-Version",
            )
        )
        assert on_preview.failed == 0, on_preview.summary()
        assert on_preview.header_counts == {"v2": 600}
        assert versions(url + "/", 20) == {"v1": 20}
        kept = http.client.HTTPConnection("127.0.0.1", preview, timeout=10)
        kept.request("GET", "/")
        answer = kept.getresponse()
        answer.read()
        assert (answer.status, answer.will_close) == (200, False)  # then idle, kept alive
        promoted = service.cli("promote")
        assert promoted.returncode == 0, promoted.stderr
        wait_for(lambda: phase(service) == "succeeded", 30, "switch")
        # the preview ended: its idle connection is closed (haproxy, like the builtin at
        # close_preview), or its next request answered 503 (the builtin); never routed
        if engine == "haproxy":
            assert kept.sock is not None
            assert kept.sock.recv(1) == b"", "the idle preview connection stayed open"
        else:
            kept.request("GET", "/")
            assert kept.getresponse().status == 503
        kept.close()
        warm = {rid: pid for rid, pid in service.replica_pids().items() if rid.startswith("r1-")}
        assert warm, "the old revision is kept warm"
        assert versions(url + "/", 20) == {"v2": 20}
        undo = service.cli("undo")
        assert undo.returncode == 0, undo.stdout + undo.stderr
        assert versions(url + "/", 20) == {"v1": 20}
    clean(gen.report)
    doc = service.status()
    rollout = doc["rollout"]
    assert (rollout["kind"], rollout["strategy"]) == ("undo", "blue-green")
    assert rollout["finished_at"] - rollout["started_at"] < 1.0
    pids = service.replica_pids()
    assert all(pids.get(rid) == pid for rid, pid in warm.items())  # no process started


@pytest.mark.parametrize("engine", ENGINES)
def test_header_route_weights_and_sticky_users(service: Service, engine: str) -> None:
    steps = (
        '[{ set_header_route = { header = "x-canary", value = "yes" } }, { set_weight = 10 },'
        " { pause = {} }, { set_weight = 50 }, { pause = {} }]"
    )
    service.write_spec(
        engine=engine_part(engine),
        extra=f'type = "canary"\nsticky = "cookie:user"\nsteps = {steps}\n',
    )
    url = service.up()
    with load(url, rate=150) as gen:  # continuous traffic without route or key throughout
        started = deploy(service, "v2", "--no-wait")
        assert started.returncode == 0, started.stderr
        wait_for(lambda: phase(service) == "paused", 60, "first pause")
        assert versions(url + "/", 30, {"x-canary": "yes"}) == {"v2": 30}
        report = asyncio.run(
            run(url + "/", rate=1000, connections=8, requests=2000, count_header="X-Version")
        )
        assert report.failed == 0, report.summary()
        share = report.header_counts.get("v2", 0) / 2000
        assert 0.07 <= share <= 0.13, report.header_counts
        users = {f"u{i}": versions(url + "/", 3, {"cookie": f"user=u{i}"}) for i in range(150)}
        assert all(len(seen) == 1 for seen in users.values())  # each user sees one revision
        on_canary = {u for u, seen in users.items() if "v2" in seen}
        assert 5 <= len(on_canary) <= 30  # about 10 % of 150
        assert service.cli("promote").returncode == 0
        wait_for(lambda: service.status()["weights"] == {"1": 50, "2": 50}, 30, "weight 50")
        later = {u: versions(url + "/", 3, {"cookie": f"user=u{u[1:]}"}) for u in users}
        assert all(later[u] == {"v2": 3} for u in on_canary)  # never back to stable
        assert all(len(seen) == 1 for seen in later.values())
        assert 50 <= sum(seen == {"v2": 3} for seen in later.values()) <= 100  # about half
        aborted = service.cli("abort")
        assert aborted.returncode == 0, aborted.stderr
        assert phase(service) == "aborted"
        assert versions(url + "/", 20, {"x-canary": "yes"}) == {"v1": 20}
    report = clean(gen.report)
    assert report.header_counts.get("v2", 0) > 0  # the load met the canary by weight
