"""The dashboard on the `[ops]` listener over TCP: its page and JSON without a token, its
charts fed by the agent's own sampling, and every action refused (401/403, nothing
changed, nothing recorded) without the token, with a wrong one, from another origin, or
when the spec sets no token; with the token, an action reaches the agent as "dashboard";
the pipeline of an environment's agent with a promotion waiting for its gates."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from changeover.agent.dashboard import app
from changeover.agent.dashboard.app import ACTIONS, Dashboard
from changeover.agent.promotions import PromotionRequest
from tests.helpers import bounded
from tests.io.agent._releases import ASKER, SPEC, staging_agent

from ._ops import BEARER, TOKEN, serving, stable_revision

FLAG = {
    "name": "checkout",
    "enabled": True,
    "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "10"}}],
}
UPLOT = "/static/vendor/uplot"
CHANGES = [
    *(f"/api/actions/{a}" for a in ACTIONS),
    "/api/flags/checkout/disable",
    "/api/flags/checkout/enable",
    "/api/flags/checkout/rollout",
]


def test_the_page_and_its_files_are_served_with_a_strict_policy(tmp_path: Path) -> None:
    async def scenario() -> list[httpx.Response]:
        async with serving(tmp_path / "svc") as served, httpx.AsyncClient() as client:
            return [
                await client.get(served.url + path)
                for path in (
                    "/",
                    "/static/app.js",
                    "/static/style.css",
                    "/static/nope.js",
                    f"{UPLOT}/uPlot.iife.min.js",
                    f"{UPLOT}/uPlot.min.css",
                    f"{UPLOT}/LICENSE",
                    "/static/vendor/uplot/README.md",
                )
            ]

    page, script, style, missing, uplot, uplot_css, licence, unlisted = bounded(scenario(), 20)
    assert page.status_code == script.status_code == style.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.headers["content-type"].startswith("text/css")
    # the charting library: served from this listener (the policy's 'self'), unmodified
    vendored = Path(app.__file__).parent / "static" / "vendor" / "uplot"
    assert uplot.status_code == uplot_css.status_code == licence.status_code == 200
    assert uplot.headers["content-type"].startswith("text/javascript")
    assert uplot.content == (vendored / "uPlot.iife.min.js").read_bytes()
    assert uplot.text.startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert uplot_css.headers["content-type"].startswith("text/css")
    assert "MIT License" in licence.text
    assert (vendored / "VERSION").read_text().strip() == "1.6.32"
    assert uplot.headers["content-security-policy"] == page.headers["content-security-policy"]
    assert unlisted.status_code == 404  # only the files the page needs are served
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    # no inline script or handler the policy would block: every script is a file
    assert re.findall(r"<script[^>]*>", page.text) == [
        f'<script defer src="{UPLOT}/uPlot.iife.min.js">',
        '<script type="module" src="/static/app.js">',
    ]
    assert f'<link rel="stylesheet" href="{UPLOT}/uPlot.min.css">' in page.text
    assert not re.search(r"\son[a-z]+=", page.text)
    assert missing.status_code == 404


def test_reads_need_no_token_and_show_the_agent_state(tmp_path: Path) -> None:
    async def scenario() -> dict[str, Any]:
        async with serving(tmp_path / "svc") as served:
            agent = served.agent
            rev = stable_revision(agent)
            agent.flags.put(FLAG, by="test", source="t")
            stats = agent.proxy.stats.revision(rev)
            for second in range(3):  # what `sample_traffic` does once a second
                for _ in range(10 * (second + 1)):
                    stats.completed(200, 0.004)
                stats.completed(500, 0.002)
                agent.trend.add(1000.0 + second, agent.live.tick())
            async with httpx.AsyncClient(base_url=served.url) as client:
                now = (await client.get("/api/now")).json()
                later = (await client.get("/api/now?after=1001")).json()
                history = (await client.get("/api/history")).json()
                events = (await client.get("/api/events?last=5")).json()
                flags = (await client.get("/api/flags")).json()
                pipeline = (await client.get("/api/pipeline")).json()
                bad = await client.get("/api/now?after=soon")
                post = await client.post("/api/now")
            return {
                "now": now, "later": later, "history": history, "events": events,
                "flags": flags, "pipeline": pipeline, "bad": bad, "post": post,
            }  # fmt: skip

    got = bounded(scenario(), 20)
    now = got["now"]
    assert now["actions"] is True
    assert now["status"]["service"] == "hello"
    assert now["status"]["stable_revision"] == 1
    assert [r["version"] for r in now["status"]["revisions"]] == ["v1"]
    series = now["series"]
    assert series["fields"] == ["t", "rate", "success", "p50", "p95", "p99"]
    points = series["revisions"]["1"]
    assert [p[0] for p in points] == [1001.0, 1002.0]  # the first sample has nothing before it
    assert [p[1] for p in points] == [21.0, 31.0]  # requests in that second
    assert points[0][2] == pytest.approx(20 / 21, abs=1e-4)
    assert 0.0028 < points[0][4] <= 0.004  # p95 of 4 ms requests, within their bucket
    assert [p[0] for p in got["later"]["series"]["revisions"]["1"]] == [1002.0]
    assert [r["to_revision"] for r in got["history"]["rollouts"]] == [1]
    assert got["events"]["events"][-1]["message"] == "test created flag 'checkout': on, 10%"
    assert [f["name"] for f in got["flags"]["flags"]] == ["checkout"]
    assert got["pipeline"] == {"environment": None, "promotions": [], "freezes": []}
    assert got["bad"].status_code == 400
    assert got["bad"].json()["error"] == "after: expected a number >= 0, got 'soon'"
    assert got["post"].status_code == 405


def _refusals(client: httpx.AsyncClient, path: str) -> list[asyncio.Future[httpx.Response] | Any]:
    return [
        client.post(path, json={"percent": 50}),
        client.post(path, json={"percent": 50}, headers={"Authorization": "Bearer nope"}),
        client.post(path, json={"percent": 50}, headers={"Authorization": f"Basic {TOKEN}"}),
        client.post(path, json={"percent": 50}, headers={"Authorization": f"Bearer {TOKEN}x"}),
        client.post(
            path, json={"percent": 50}, headers={**BEARER, "Origin": "http://evil.example"}
        ),
        client.get(path),  # a link or an image cannot act either
    ]


def _state(served: Any) -> tuple[Any, ...]:
    store = served.agent.store
    return (
        store.last_event_id(),
        [(r.id, r.phase) for r in store.rollouts(limit=10)],
        [(r.id, r.status) for r in store.revisions()],
        served.agent.flags.records(),
    )


def test_without_the_token_no_action_changes_anything(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[tuple[str, int, dict[str, Any]]], Any, Any]:
        async with serving(tmp_path / "svc") as served:
            stable_revision(served.agent)
            served.agent.flags.put(FLAG, by="test", source="t")
            before = _state(served)
            answers = []
            async with httpx.AsyncClient(base_url=served.url) as client:
                for path in CHANGES:
                    for sent in _refusals(client, path):
                        answer = await sent
                        answers.append((path, answer.status_code, dict(answer.headers)))
            return answers, before, _state(served)

    answers, before, after = bounded(scenario(), 30)
    assert after == before  # no event, rollout, revision or flag changed
    per_path = {}
    for path, code, _ in answers:
        per_path.setdefault(path, []).append(code)
    assert per_path == {path: [401, 401, 401, 401, 403, 401] for path in CHANGES}
    for _, code, headers in answers:
        assert TOKEN not in str(headers)
        if code == 401:
            assert headers["www-authenticate"].startswith('Bearer realm="changeover ops"')


def test_without_a_token_file_the_dashboard_is_read_only(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[httpx.Response], dict[str, Any], Any, Any]:
        async with serving(tmp_path / "svc", token=False) as served:
            stable_revision(served.agent)
            served.agent.flags.put(FLAG, by="test", source="t")
            before = _state(served)
            async with httpx.AsyncClient(base_url=served.url) as client:
                answers = [await client.post(path, headers=BEARER) for path in CHANGES]
                now = (await client.get("/api/now")).json()
            return answers, now, before, _state(served)

    answers, now, before, after = bounded(scenario(), 30)
    assert after == before
    assert {a.status_code for a in answers} == {403}
    assert answers[0].json()["error"] == (
        "the dashboard is read-only: set [ops] token_file in the spec for actions"
    )
    assert now["actions"] is False


def test_with_the_token_an_action_reaches_the_agent_as_the_dashboard(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[httpx.Response], list[dict[str, Any]], list[str]]:
        async with serving(tmp_path / "svc") as served:
            agent = served.agent
            stable_revision(agent)
            agent.flags.put(FLAG, by="test", source="t")
            before = agent.store.last_event_id()
            async with httpx.AsyncClient(base_url=served.url) as client:
                host = served.url.removeprefix("http://")
                answers = [
                    await client.post(
                        "/api/flags/checkout/disable",
                        headers={**BEARER, "Origin": f"http://{host}"},
                    ),
                    await client.post(
                        "/api/flags/checkout/rollout", json={"percent": 40}, headers=BEARER
                    ),
                    await client.post(
                        "/api/flags/checkout/rollout", json={"percent": 140}, headers=BEARER
                    ),
                    await client.post("/api/flags/nothing/enable", headers=BEARER),
                    await client.post("/api/actions/promote", headers=BEARER),
                    await client.post("/api/actions/launch", headers=BEARER),
                ]
            events = [e.message for e in agent.store.events(after_id=before)]
            return answers, agent.flags.records(), events

    answers, flags, events = bounded(scenario(), 30)
    assert [a.status_code for a in answers] == [200, 200, 400, 404, 400, 404]
    assert flags[0]["enabled"] is False
    assert flags[0]["rollout"].startswith("40%")
    assert len(events) == 2
    assert all("dashboard" in e for e in events)
    assert answers[4].json()["error"].startswith("no rollout")


def asgi(dashboard: Dashboard) -> httpx.AsyncClient:
    """A client of the dashboard's routes alone, in process."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        answer = await dashboard.respond(Request(scope, receive))
        assert answer is not None
        await answer(scope, receive, send)

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash")


def test_open_pages_share_one_status_document_a_second(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        async with serving(tmp_path / "svc") as served:
            agent, now = served.agent, [100.0]
            agent.clock = lambda: now[0]
            seen = []
            async with asgi(Dashboard(agent, None)) as client:
                for step in (0.0, 0.5, 0.6):  # the pages ask at t = 100, 100.5, 101.1
                    now[0] += step
                    doc = (await client.get("/api/now")).json()
                    seen.append(doc["status"]["events"][-1]["message"])
                    agent.events.add("agent", f"noted at {now[0]:g}")
            return seen

    first, cached, fresh = bounded(scenario(), 20)
    assert cached == first  # half a second later: the same document
    assert first != "noted at 100"
    assert fresh == "noted at 100.5"  # a second later: made again


def test_the_pipeline_shows_a_waiting_promotion_with_its_gates(tmp_path: Path) -> None:
    gated = SPEC.replace('promote_from = "dev"', 'promote_from = "dev"\napprovals = 1')

    async def scenario() -> tuple[dict[str, Any], int]:
        async with staging_agent(tmp_path, spec=gated) as s:
            sha = await s.hold("1.0.0", gated)
            request = PromotionRequest(version="1.0.0", sha256=sha, from_environment="dev")
            await s.agent.promote(request, ASKER)
            async with asgi(Dashboard(s.agent, None)) as client:
                doc = (await client.get("/api/pipeline")).json()
                refused = await client.post("/api/actions/promote")
            return doc, refused.status_code

    doc, refused = bounded(scenario(), 30)
    assert doc["environment"] == "staging"
    [promotion] = doc["promotions"]
    assert (promotion["version"], promotion["state"]) == ("1.0.0", "waiting")
    approvals = [g for g in promotion["gates"] if g["gate"] == "approvals"]
    assert approvals
    assert approvals[0]["state"] == "unmet"
    assert approvals[0]["needs"]
    assert refused == 403  # no token file: read-only
