"""The `[ops]` listener over TCP: /metrics as Prometheus (and promtool) reads it, and the
webhook's bad input: no or wrong token, oversized or malformed payloads, other services'
alerts, repeats; the token never shows anywhere."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from changeover.agent.flags.listener import ListenerError
from changeover.agent.ops.listener import OpsListener
from changeover.agent.ops.webhook import MAX_BYTES
from changeover.migrations.state import Step
from changeover.spec.models import OpsSettings
from tests import parts
from tests.helpers import bounded, until

from ._ops import (
    BEARER,
    TOKEN,
    Hook,
    alertmanager,
    firing,
    serving,
    stable_revision,
    write_spec,
)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_are_read_from_the_agent_when_scraped_and_promtool_accepts_them(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[str, httpx.Response]:
        async with serving(tmp_path / "svc") as served:
            agent = served.agent
            rev = stable_revision(agent)
            stats = agent.proxy.stats.revision(rev)
            for _ in range(40):
                stats.completed(200, 0.004)
            stats.completed(503, 0.0003)
            stats.inflight = 3
            agent.tally.outcome("rolled-back")
            agent.store.schema_start(rev, Step.EXPAND, "true", message="expand", now=1.0)
            agent.store.schema_end(
                rev, ok=True, exit_code=0, duration=0.1, detail="", message="ok", now=2.0
            )
            agent.store.record_promotion(
                version="1.0.0", sha256="ab" * 32, environment="", from_environment=None,
                hotfix=False, kind="promote", spec_file="changeover.toml", requested_by="ann",
                requested_uid=None, now=3.0,
            )  # fmt: skip
            async with httpx.AsyncClient(base_url=served.url) as client:
                text = (await client.get("/metrics")).text
                open_metrics = await client.get(
                    "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
                )
            return text, open_metrics

    text, open_metrics = bounded(scenario(), 20)
    got = samples(text)
    rev = {("service", "hello"), ("revision", "1"), ("version", "v1")}

    def at(name: str, **labels: str) -> float:
        return got[name, frozenset(rev | set(labels.items()))]

    assert at("http_server_request_duration_seconds_count", status_class="2xx") == 40
    assert at("http_server_request_duration_seconds_count", status_class="5xx") == 1
    assert at("http_server_request_duration_seconds_sum", status_class="2xx") == pytest.approx(0.16)
    assert at("http_server_request_duration_seconds_bucket", status_class="2xx", le="0.004") == 40
    assert (
        at("http_server_request_duration_seconds_bucket", status_class="2xx", le="0.0028284") == 0
    )
    assert at("http_server_request_duration_seconds_bucket", status_class="5xx", le="0.00025") == 0
    assert at("http_server_request_duration_seconds_count", status_class="4xx") == 0  # from zero
    assert at("http_server_active_requests") == 3
    assert at("changeover_replicas", state="ready") == 0
    assert at("changeover_replica_restarts_total") == 0
    assert at("changeover_revision_info", status="stable") == 1
    service = frozenset({("service", "hello")})
    assert got["changeover_rollouts_total", service | {("outcome", "rolled-back")}] == 1
    assert got["changeover_proxy_latency_sample_one_in", service] == 1  # builtin: every one
    assert got["changeover_rollouts_total", service | {("outcome", "succeeded")}] == 0
    info = {
        ("rollout", "1"), ("kind", "initial"), ("strategy", "rolling"), ("phase", "succeeded"),
        ("from_revision", ""), ("to_revision", "1"),
    }  # fmt: skip
    assert got["changeover_rollout_info", service | info] == 1
    schema = {("state", "expanded"), ("step", "expand")}
    assert got["changeover_schema_state", frozenset(rev | schema)] == 1
    assert got["changeover_promotions", service | {("state", "waiting")}] == 1
    assert any(name == "process_cpu_seconds_total" for name, _ in got)
    assert any(name == "changeover_agent_start_time_seconds" for name, _ in got)
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.endswith("# EOF\n")
    promtool = parts.require("promtool", "prometheus")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_webhook_refuses_bad_input_and_does_nothing_for_it(tmp_path: Path) -> None:
    ours = firing("ChangeoverAgentDown", service="hello", changeover_action="notify")

    async def scenario() -> tuple[list[httpx.Response], list[str]]:
        async with serving(tmp_path / "svc") as served:
            before = served.agent.store.last_event_id()
            body = alertmanager(ours)
            async with httpx.AsyncClient(base_url=served.url) as client:
                answers = [
                    await client.post("/v1/alerts", content=body),
                    await client.post(
                        "/v1/alerts", content=body, headers={"Authorization": "Bearer nope"}
                    ),
                    await client.post(
                        "/v1/alerts", content=body, headers={"Authorization": f"Basic {TOKEN}"}
                    ),
                    await client.get("/v1/alerts", headers=BEARER),
                    await client.post("/v1/alerts", content=b"{not json", headers=BEARER),
                    await client.post("/v1/alerts", content=b" " * (MAX_BYTES + 1), headers=BEARER),
                    await client.post("/v1/alerts", content=alertmanager(), headers=BEARER),
                    await client.get("/elsewhere"),
                ]
            events = served.agent.store.events(after_id=before)
            return answers, [e.message for e in events]

    answers, events = bounded(scenario(), 20)
    codes = [a.status_code for a in answers]
    assert codes == [401, 401, 401, 405, 400, 400, 200, 404]
    assert answers[0].json()["error"] == "missing `Authorization: Bearer <token>`"
    assert answers[0].headers["www-authenticate"] == 'Bearer realm="changeover ops"'
    assert answers[1].json()["error"] == "wrong bearer token"
    assert answers[4].json()["error"].startswith("not an Alertmanager webhook payload: ")
    assert answers[5].json()["error"] == f"the payload is larger than {MAX_BYTES} bytes"
    assert answers[6].json() == {"alerts": []}
    assert events == []  # nothing was decided, so nothing was recorded
    assert all(TOKEN not in a.text for a in answers)


def test_alerts_are_decided_once_each_and_every_decision_is_an_event(tmp_path: Path) -> None:
    other = firing("ChangeoverHighErrorRatio", service="billing", revision="1")
    ours = firing("ChangeoverHighErrorRatio", service="hello", revision="1")
    notify = firing("ChangeoverRolloutFailed", service="hello", changeover_action="notify")
    resolved = firing("ChangeoverHighErrorRatio", "resolved", service="hello", revision="1")

    async def scenario() -> tuple[list[list[dict[str, str]]], list[str], dict[str, int]]:
        async with serving(tmp_path / "svc", notify=hook.url) as served:
            agent = served.agent
            stable_revision(agent)
            before = agent.store.last_event_id()
            decided = []
            async with httpx.AsyncClient(base_url=served.url, headers=BEARER) as client:
                for body in (
                    alertmanager(other, ours, notify),
                    alertmanager(other, ours, notify),  # Alertmanager's resend: nothing new
                    alertmanager(resolved),
                ):
                    answer = await client.post("/v1/alerts", content=body)
                    assert answer.status_code == 200, answer.text
                    decided.append([a["decision"] for a in answer.json()["alerts"]])
            events = [e.message for e in agent.store.events(after_id=before)]
            await until(lambda: len(hook.bodies) == 2, 10, "two notifications")
            return decided, events, dict(agent.tally.alerts)

    with Hook() as hook:
        decided, events, counted = bounded(scenario(), 20)
    assert decided == [
        ["ignored", "recorded", "recorded"],
        ["repeat", "repeat", "repeat"],
        ["resolved"],
    ]
    assert events == [
        'alert ChangeoverHighErrorRatio{revision="1",service="billing"} firing: ignored, not '
        'this service\'s (it lacks service="hello")',
        'alert ChangeoverHighErrorRatio{revision="1",service="hello"} firing: recorded; '
        "nothing rolled back: no rollout is in progress",
        'alert ChangeoverRolloutFailed{changeover_action="notify",service="hello"} firing: '
        "recorded (changeover_action=notify); nothing rolled back",
        'alert ChangeoverHighErrorRatio{revision="1",service="hello"} resolved: nothing to do',
    ]
    assert counted == {"ignored": 1, "recorded": 2, "repeat": 3, "resolved": 1}
    # recorded alerts of this service are notified (kind "alert"); ignored ones are not
    notified = sorted(hook.bodies, key=lambda body: body["alert"])
    assert [(b["event"], b["alert"], b["status"], b["rollout"]) for b in notified] == [
        ("alert", "ChangeoverHighErrorRatio", "firing", None),
        ("alert", "ChangeoverRolloutFailed", "firing", None),
    ]
    assert notified[0]["service"] == "hello"
    assert notified[0]["labels"] == {
        "alertname": "ChangeoverHighErrorRatio", "service": "hello", "revision": "1",
    }  # fmt: skip
    assert notified[0]["message"] == events[1]


def test_without_a_token_file_the_listener_serves_metrics_only(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, httpx.Response]:
        async with serving(tmp_path / "svc", token=False) as served:
            async with httpx.AsyncClient(base_url=served.url) as client:
                metrics = await client.get("/metrics")
                alerts = await client.post("/v1/alerts", content=alertmanager(), headers=BEARER)
            return metrics.status_code, alerts

    metrics, alerts = bounded(scenario(), 20)
    assert metrics == 200
    assert alerts.status_code == 404
    assert alerts.json()["error"] == "/v1/alerts needs a token: set [ops] token_file in the spec"


def test_a_bad_token_file_or_a_taken_port_fails_the_start_naming_the_key(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    (tmp_path / "ops.token").chmod(0o640)
    settings = OpsSettings(listen="127.0.0.1:0", token_file="ops.token")
    with pytest.raises(ListenerError) as refused:
        OpsListener.open(settings, spec)
    assert str(refused.value).startswith(f"{spec}: ops.token_file: {tmp_path / 'ops.token'} is")
    assert TOKEN not in str(refused.value)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ListenerError) as busy:
            OpsListener.open(OpsSettings(listen=f"127.0.0.1:{port}"), spec)
    assert str(busy.value) == (
        f"{spec}: ops.listen: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_past_its_connection_cap_it_answers_503_until_a_connection_closes(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[int, int]:
        async with serving(tmp_path / "svc", max_connections=2) as served:
            host, port = served.url.removeprefix("http://").rsplit(":", 1)
            idle = [await asyncio.open_connection(host, int(port)) for _ in range(2)]
            async with httpx.AsyncClient(base_url=served.url) as client:
                over = (await client.get("/metrics")).status_code
                for _, writer in idle:
                    writer.close()
                    await writer.wait_closed()
                while (after := (await client.get("/metrics")).status_code) == 503:
                    await asyncio.sleep(0.01)  # until the server saw the two closes
            return over, after

    assert bounded(scenario(), 20) == (503, 200)
