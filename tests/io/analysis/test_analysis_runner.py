"""The async runner end to end: fake proxy samples, fake and real time, stop, cancel."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest

from changeover.analysis.model import IllegalUse, Measurement, Outcome, RunStatus
from changeover.analysis.runner import Runner
from changeover.spec.models import AnalysisTemplate
from tests.helpers import until, wait_gone
from tests.io.analysis.fake_proxy import FakeProxy, FakeTime, Traffic

from ._helpers import SUCCESS, closed_port, http_server, template

GOOD, BAD = Traffic(ok=100, latency=0.05), Traffic(ok=70, errors=30, latency=0.05)
SLO = (
    {**SUCCESS, "min_requests": 20},
    {"name": "p95", "provider": "builtin", "query": "latency_p95", "max": "300ms"},
    {"name": "slower", "provider": "builtin", "query": "latency_p95_ratio", "max": 2.0},
)


def bounded(coro: Awaitable[Any], seconds: float = 30.0) -> Any:
    async def main() -> Any:
        async with asyncio.timeout(seconds):
            return await coro

    return asyncio.run(main())


def fake_runner(t: AnalysisTemplate, proxy: FakeProxy, time: FakeTime, **kw: Any) -> Runner:
    kw.setdefault("baseline", 3)
    return Runner("slo", t, canary=4, sample=proxy.sample, clock=time.clock, wall=time.wall,
                  sleep=time.sleep, **kw)  # fmt: skip


def test_three_good_rounds_succeed_and_report_every_measurement() -> None:
    seen: list[Measurement] = []
    proxy = FakeProxy([{4: GOOD, 3: GOOD}] * 3)
    time = FakeTime(start=1000.0)
    t = template(*SLO, count=3, initial_delay="5s")
    runner = fake_runner(t, proxy, time, on_measurement=seen.append)
    assert bounded(runner.run()) is RunStatus.SUCCESSFUL
    assert time.sleeps == [5.0, 10.0, 10.0, 10.0]  # initial delay, then one interval per round
    assert [m.metric for m in seen] == ["success", "p95", "slower"] * 3
    assert all(m.outcome is Outcome.PASSED for m in seen)
    assert seen[0].at == 1_700_000_015.0  # wall time of the first round
    assert runner.summary == "all 3 metrics passed in 3 rounds"
    assert runner.to_dict()["name"] == "slo"


def test_each_round_sees_only_its_own_window() -> None:
    proxy = FakeProxy([{4: GOOD, 3: GOOD}, {4: BAD, 3: GOOD}, {4: GOOD, 3: GOOD}])
    proxy.serve(4, Traffic(errors=500))  # before the run's first sample: not in any window
    runner = fake_runner(template(*SLO, count=3), proxy, FakeTime())
    assert bounded(runner.run()) is RunStatus.FAILED
    assert runner.rounds == 2
    assert runner.summary == (
        'metric "success" failed 1 time (limit 0): '
        "success_rate 0.7 < min 0.99 (100 requests in 10s)"
    )


def test_no_canary_traffic_is_inconclusive_not_a_pass() -> None:
    runner = fake_runner(template(SUCCESS, count=2), FakeProxy(), FakeTime(), baseline=None)
    assert bounded(runner.run()) is RunStatus.INCONCLUSIVE
    assert "no requests from revision 4 in the window" in runner.summary


def test_a_web_check_down_ends_in_error_after_limit_plus_one_rounds() -> None:
    url = f"http://127.0.0.1:{closed_port()}/check"
    web = {"name": "web", "provider": "web", "url": url}
    t = template(web, count=10, consecutive_error_limit=2)
    runner = fake_runner(t, FakeProxy(), FakeTime())
    assert bounded(runner.run()) is RunStatus.ERROR
    assert runner.rounds == 3
    assert runner.summary == (
        f'metric "web" had an error 3 times in a row (limit 2): web {url}: connection refused'
    )


def test_a_prometheus_down_is_inconclusive_every_round_never_an_error() -> None:
    address = f"http://127.0.0.1:{closed_port()}"
    prom = {"name": "prom", "provider": "prometheus", "address": address, "query": "up"}
    runner = fake_runner(template(prom, count=3), FakeProxy(), FakeTime())
    assert bounded(runner.run()) is RunStatus.INCONCLUSIVE
    assert "connection refused: no measurement, inconclusive" in runner.summary


def test_an_injected_http_client_is_used_and_left_open() -> None:
    def route(path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        return 200, {"ok_ratio": 0.95}

    async def main(url: str) -> tuple[RunStatus, bool]:
        web = {"name": "web", "provider": "web", "url": url, "json_path": "$.ok_ratio", "min": 0.9}
        async with httpx.AsyncClient() as http:
            runner = fake_runner(template(web, count=2), FakeProxy(), FakeTime(), http=http)
            status = await runner.run()
            return status, http.is_closed

    with http_server(route) as (base, seen):
        assert bounded(main(base + "/stats")) == (RunStatus.SUCCESSFUL, False)
    assert seen == ["/stats", "/stats"]


def test_real_clock_with_tiny_intervals() -> None:
    proxy = FakeProxy(on_sample=lambda p: p.serve(4, GOOD))
    t = template(SUCCESS, count=3, interval="10ms")
    runner = Runner("quick", t, canary=4, baseline=None, sample=proxy.sample)
    assert bounded(runner.run()) is RunStatus.SUCCESSFUL
    assert (runner.rounds, proxy.samples) == (3, 4)


def test_stop_ends_a_background_run_with_a_verdict() -> None:
    proxy = FakeProxy(on_sample=lambda p: p.serve(4, GOOD))
    t = template(SUCCESS, count=1, interval="10ms")
    runner = Runner("bg", t, canary=4, baseline=None, sample=proxy.sample, background=True)

    async def main() -> RunStatus:
        task = asyncio.create_task(runner.run())
        await until(lambda: runner.rounds >= 3)  # count=1 is ignored in the background
        runner.stop()
        return await task

    assert bounded(main()) is RunStatus.SUCCESSFUL
    assert runner.summary.startswith("the metric passed in ")


def test_cancel_stops_cleanly_and_kills_a_running_command(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    smoke = {
        "name": "smoke",
        "provider": "command",
        "command": f"sleep 60 & echo $! > {pidfile}; wait",
    }
    t = template(smoke, count=1, interval="10ms")
    runner = Runner("c", t, canary=4, baseline=None, sample=FakeProxy().sample, workdir=tmp_path)

    async def main() -> None:
        task = asyncio.create_task(runner.run())
        await until(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    bounded(main())
    assert wait_gone(int(pidfile.read_text()))
    assert runner.status is RunStatus.RUNNING
    assert runner.rounds == 0


def test_command_env_is_added_to_the_agents_environment(tmp_path: Path) -> None:
    check = {"name": "env", "provider": "command", "command": 'test "$FOO" = bar && command -v sh'}
    runner = fake_runner(template(check, count=1), FakeProxy(), FakeTime(), env={"FOO": "bar"})
    assert bounded(runner.run()) is RunStatus.SUCCESSFUL


def test_bad_templates_and_second_runs_are_refused() -> None:
    bad = template(
        {"name": "a", "provider": "builtin", "query": "p95"},
        {"name": "b", "provider": "prometheus", "query": "up"},
        {"name": "c", "provider": "web", "url": "http://x", "json_path": "a..b"},
    )
    with pytest.raises(ValueError, match=r"metrics\[0\]\.query: unknown builtin query 'p95'") as e:
        fake_runner(bad, FakeProxy(), FakeTime())
    assert "metrics[1].address: required for provider 'prometheus'" in str(e.value)
    assert "metrics[2].json_path: invalid JSON path" in str(e.value)
    runner = fake_runner(template(SUCCESS, count=1), FakeProxy(), FakeTime())
    bounded(runner.run())
    with pytest.raises(IllegalUse, match="already run"):
        bounded(runner.run())


@pytest.mark.parametrize(
    "order", ["changeover.analysis.runner, changeover.spec", "changeover.spec, changeover.analysis"]
)
def test_analysis_and_spec_import_in_either_order(order: str) -> None:
    code = f"import {order}; import changeover.spec.rules, changeover.analysis.builtin"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()


def test_with_the_baselines_history_a_comparison_needs_no_baseline_traffic_in_the_window() -> None:
    """The guard's runs: the previous revision served before the run (10 ms answers) and
    serves nothing during it, so only its history can be compared with."""
    ratio = {"name": "slower", "provider": "builtin", "query": "latency_p95_ratio", "max": 2.0}
    fast, slow = Traffic(ok=100, latency=0.01), Traffic(ok=100, latency=0.05)
    t = template(ratio, count=2)

    def before_the_run() -> FakeProxy:
        proxy = FakeProxy([{4: slow}, {4: slow}])
        proxy.serve(3, fast)  # the baseline's traffic, all before the first sample
        return proxy

    same_window = fake_runner(t, before_the_run(), FakeTime())
    assert bounded(same_window.run()) is RunStatus.INCONCLUSIVE
    assert "no requests from stable revision 3 in the window" in same_window.summary
    history = fake_runner(t, before_the_run(), FakeTime(), baseline_history=True)
    assert bounded(history.run()) is RunStatus.FAILED
    assert history.summary.startswith('metric "slower" failed 1 time (limit 0): latency_p95')
    assert "vs revision 3 " in history.summary
