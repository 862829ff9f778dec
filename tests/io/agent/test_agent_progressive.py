"""Agent-side pieces of progressive delivery: analysis runs, notifications, traffic policy."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from changeover.agent.analyses import Analyses
from changeover.agent.events import EventLog
from changeover.agent.notify import Notifier
from changeover.agent.traffic import TrafficApplier, policy_for
from changeover.analysis.model import Measurement, Outcome, RunStatus
from changeover.proxy.policy import Sticky
from changeover.rollout.decision import AnalysisRequest, RunState, Traffic
from changeover.rollout.steps import HeaderRoute
from changeover.spec.models import AnalysisTemplate, Metric, Notify
from changeover.store import Store
from tests.helpers import bounded, wait_gone

TEMPLATE = AnalysisTemplate(metrics=[Metric(name="m", provider="builtin", query="success_rate")])


def rollout(store: Store) -> Any:
    rev = store.create_revision(
        version="v1", path="/", command="x", env={}, spec={}, replicas=1, now=1.0
    )
    return store.start_rollout(
        from_revision=None, to_revision=rev.id, kind="initial", strategy="canary", now=1.0
    )


class Scripted:
    """A run that records one measurement and ends with `status` when `go` is set."""

    def __init__(self, status: RunStatus, record: Any) -> None:
        self.status, self.record, self.go = status, record, asyncio.Event()
        self.summary = f"scripted {status.value}"

    async def run(self) -> RunStatus:
        await self.go.wait()
        self.record(Measurement("m", Outcome.FAILED, 0.5, 2.0, "success_rate 0.50 < min 0.99"))
        return self.status


def test_runs_start_once_report_their_end_and_stop_when_no_longer_asked(tmp_path: Path) -> None:
    async def scenario() -> None:
        with Store.open(tmp_path / "db") as store:
            r = rollout(store)
            made: dict[str, Scripted] = {}
            woken: list[int] = []

            def factory(req: AnalysisRequest, template: AnalysisTemplate, record: Any) -> Scripted:
                made[req.key] = Scripted(RunStatus.FAILED, record)
                return made[req.key]

            runs = Analyses(
                store=store,
                events=EventLog(store),
                factory=factory,
                wall=lambda: 3.0,
                on_change=lambda: woken.append(1),
            )
            step = AnalysisRequest("step-1", "slo", 2, 1)
            bg = AnalysisRequest("background", "slo", 2, 1)
            runs.sync(r.id, [step, bg], {"slo": TEMPLATE})
            runs.sync(r.id, [step, bg], {"slo": TEMPLATE})  # idempotent
            assert sorted(made) == ["background", "step-1"]
            assert runs.observe()["step-1"].state is RunState.RUNNING
            made["step-1"].go.set()
            async with asyncio.timeout(5):
                while runs.observe()["step-1"].state is RunState.RUNNING:
                    await asyncio.sleep(0.01)
            assert runs.observe()["step-1"].state is RunState.FAILED
            assert woken
            runs.sync(r.id, [step], {"slo": TEMPLATE})  # background no longer wanted
            await asyncio.sleep(0.05)
            stored = {run.key: run.status for run in store.runs(r.id)}
            assert stored == {"step-1": "failed", "background": "stopped"}
            (m,) = store.measurements(r.id)
            assert (m.run_key, m.outcome, m.value) == ("step-1", "failed", 0.5)
            await runs.close()

    asyncio.run(scenario())


class Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        Hook.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_notifications_reach_a_webhook_and_a_command(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    out = tmp_path / "out.json"
    url = f"http://127.0.0.1:{server.server_port}/hook"
    settings = Notify(webhook=url, command=f"cat > {out}", events=["aborted"])

    async def scenario() -> None:
        with Store.open(tmp_path / "db") as store:
            r = rollout(store)
            events = EventLog(store)
            notifier = Notifier(
                service="hello",
                events=events,
                settings=lambda _: settings,
                wall=lambda: 9.0,
                version=lambda rev: "v1",
            )
            notifier("step", r, "not subscribed")
            notifier("aborted", r, "aborted by operator")
            await notifier.close()
            failing = Notifier(
                service="hello",
                events=events,
                settings=lambda _: Notify(command="exit 3", timeout="2s"),
                wall=lambda: 9.0,
                version=lambda rev: "v1",
            )
            failing("failed", r, "x")
            await failing.close()
            assert any(
                "notification failed to command failed: exit 3" in e.message for e in store.events()
            )

    try:
        asyncio.run(scenario())
    finally:
        server.shutdown()
        server.server_close()
    (body,) = Hook.bodies
    assert (body["event"], body["rollout"], body["message"]) == (
        "aborted",
        1,
        "aborted by operator",
    )
    assert json.loads(out.read_text())["event"] == "aborted"


def test_a_hook_past_its_timeout_is_killed_with_its_background_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    hook = f"sleep 60 & echo $! > {pidfile}; wait"

    async def scenario() -> list[str]:
        with Store.open(tmp_path / "db") as store:
            notifier = Notifier(
                service="hello",
                events=EventLog(store),
                settings=lambda _: Notify(command=hook, timeout="0.3s"),
                wall=lambda: 9.0,
                version=lambda rev: "v1",
            )
            notifier("failed", rollout(store), "x")
            await notifier.close()
            return [e.message for e in store.events()]

    messages = bounded(scenario())
    assert "notification failed to command failed: timed out after 0.3s" in messages
    assert wait_gone(int(pidfile.read_text()))


def test_policy_for_carries_routes_and_sticky_to_the_proxy() -> None:
    route = HeaderRoute(header="x-canary", prefix="be")
    policy = policy_for(
        Traffic(weights={1: 90, 2: 10}, header_route=route, header_revision=2, sticky="cookie:u")
    )
    assert dict(policy.weights or {}) == {1: 90, 2: 10}
    (r,) = policy.header_routes
    assert (r.header, r.revision, r.prefix) == ("x-canary", 2, "be")
    assert policy.sticky == Sticky("cookie", "u")


def test_traffic_applier_touches_the_proxy_only_on_change() -> None:
    calls: list[Any] = []

    class Proxy:
        def set_traffic(self, policy: Any) -> None:
            calls.append(policy)

        def set_preview(self, revision: int | None) -> None:
            calls.append(revision)

    applier = TrafficApplier(Proxy())  # type: ignore[arg-type]
    assert applier.apply(Traffic(weights={1: 100}, preview=2))
    assert not applier.apply(Traffic(weights={1: 100}, preview=2))
    assert applier.apply(Traffic())
    assert len(calls) == 4


@pytest.mark.parametrize("sticky", ["cookie", "session", "cookie:", "header:a b"])
def test_sticky_spec_form_is_checked(sticky: str) -> None:
    from changeover.spec.load import SpecError, load_spec_data

    with pytest.raises(SpecError, match=r"strategy\.sticky"):
        load_spec_data({"app": {"name": "a", "command": "x"}, "strategy": {"sticky": sticky}}, "t")
