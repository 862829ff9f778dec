"""The flag routes of the control API: through httpx's ASGI transport, and the real
`changeover.flags.Client` against uvicorn on a unix socket."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest

from changeover.agent.api import create_app
from changeover.agent.control import ControlServer, bind_control_socket
from changeover.agent.core import Agent
from changeover.agent.events import EventLog
from changeover.agent.flags import FlagService
from changeover.flags import Client, ErrorCode
from changeover.store import Store

from ._helpers import GUARD, rollout_flag, run


@pytest.fixture
def service(store: Store) -> FlagService:
    return FlagService(store, EventLog(store))


@contextlib.asynccontextmanager
async def http(service: FlagService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(cast(Agent, SimpleNamespace(flags=service)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://agent") as client:
        yield client


def put(doc: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"document": doc, "by": "ann@box", "source": "f.toml", **extra}


def test_the_document_has_a_strong_etag_and_honours_if_none_match(service: FlagService) -> None:
    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with http(service) as client:
            created = await client.post("/v1/admin/flags", json=put(rollout_flag()))
            assert created.json() == {"changes": ["ann@box created flag 'checkout': on, 10%"]}
            full = await client.get("/v1/flags")
            same = await client.get("/v1/flags", headers={"If-None-Match": full.headers["etag"]})
            held = await client.get(
                "/v1/flags?wait=50ms", headers={"If-None-Match": full.headers["etag"]}
            )
            return full, same, held

    full, same, held = run(scenario())
    assert (full.status_code, full.content, full.headers["etag"]) == (
        200,
        service.body,
        service.etag,
    )
    assert full.headers["content-type"] == "application/json"
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", service.etag)
    assert (held.status_code, held.content) == (304, b"")


def test_a_long_poll_returns_as_soon_as_a_rollout_changes(service: FlagService) -> None:
    service.put(rollout_flag(), by="ann", source="f")

    async def scenario() -> httpx.Response:
        async with http(service) as client:
            etag = service.etag
            poll = asyncio.create_task(
                client.get("/v1/flags?wait=30s", headers={"If-None-Match": etag})
            )
            for _ in range(50):  # loop turns, so the poll is held before the change
                await asyncio.sleep(0)
            assert not poll.done()
            changed = await client.post(
                "/v1/admin/flags/checkout/rollout", json={"percent": 50, "by": "bob"}
            )
            assert changed.json() == {"message": "bob changed flag 'checkout': rollout 10% -> 50%"}
            return await poll  # well inside GUARD, far from the 30 s wait

    answer = run(scenario())
    assert answer.status_code == 200
    assert answer.headers["etag"] == service.etag
    assert b'"rollout":"50"' in answer.content


def test_admin_routes_list_get_and_change(service: FlagService) -> None:
    async def scenario() -> list[Any]:
        async with http(service) as client:
            await client.post("/v1/admin/flags", json=put(rollout_flag(owner="web")))
            answers = [
                await client.post("/v1/admin/flags/checkout/disable", json={"by": "bob"}),
                await client.post("/v1/admin/flags/checkout/enable", json={"by": "bob"}),
                await client.get("/v1/admin/flags/checkout"),
                await client.post("/v1/admin/flags/checkout/archive", json={"by": "bob"}),
                await client.get("/v1/admin/flags"),
                await client.get("/v1/admin/flags?archived=1"),
            ]
            return [a.json() for a in answers]

    disabled, enabled, one, archived, live, everything = run(scenario())
    assert disabled["message"] == "bob changed flag 'checkout': enabled true -> false"
    assert enabled["message"] == "bob changed flag 'checkout': enabled false -> true"
    assert (one["owner"], one["rollout"], one["definition"]["name"]) == ("web", "10%", "checkout")
    assert archived["message"] == "bob archived flag 'checkout' (was on, 10%)"
    assert live == {"flags": []}
    assert [(f["name"], f["archived"]) for f in everything["flags"]] == [("checkout", True)]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "lines"),
    [
        (
            "GET",
            "/v1/flags?wait=soon",
            None,
            400,
            ["wait: expected a duration like 30s or 500ms, got 'soon'"],
        ),
        ("GET", "/v1/admin/flags/nope", None, 404, ["no flag named 'nope'"]),
        ("POST", "/v1/admin/flags/nope/enable", {"by": "x"}, 404, ["no flag named 'nope'"]),
        (
            "POST",
            "/v1/admin/flags/checkout/rollout",
            {"by": "x", "percent": 101},
            400,
            ["percent: Input should be less than or equal to 100"],
        ),
        ("POST", "/v1/admin/flags/checkout/enable", {}, 400, ["by: Field required"]),
        (
            "POST",
            "/v1/admin/flags",
            put({"name": "x", "enabled": 1}),
            400,
            ["f.toml: enabled: input should be a valid boolean (got 1)"],
        ),
        (
            "POST",
            "/v1/admin/flags",
            put(rollout_flag(), create=True),
            400,
            ["f.toml: flag 'checkout' already exists; change it with `changeover flags set`"],
        ),
        (
            "POST",
            "/v1/admin/flags",
            {**put({}), "colour": "red"},
            400,
            ["colour: Extra inputs are not permitted"],
        ),
    ],
)
def test_bad_requests_get_json_errors_naming_the_problem(
    service: FlagService, method: str, path: str, body: Any, status: int, lines: list[str]
) -> None:
    service.put(rollout_flag(), by="ann", source="f")

    async def scenario() -> httpx.Response:
        async with http(service) as client:
            return await client.request(method, path, json=body)

    answer = run(scenario())
    assert (answer.status_code, answer.json()) == (status, {"error": lines[0], "lines": lines})


def test_the_flags_client_follows_the_agent_over_the_control_socket(
    service: FlagService, short_tmp: Path
) -> None:
    """10% then 50% of 2,000 users through the real client: the 10% stay in."""
    service.put(rollout_flag(), by="ann", source="f")
    sock = short_tmp / "agent.sock"

    def client_side() -> tuple[set[int], set[int], Any]:
        users = [{"userId": str(u)} for u in range(2000)]
        with Client("http://agent/v1/flags", uds=str(sock), poll_interval=1.0) as client:
            assert client.wait_until_ready(GUARD)
            first = {i for i, u in enumerate(users) if client.is_enabled("checkout", u)}
            changed = threading.Event()
            client.on_change(lambda event: changed.set())
            transport = httpx.HTTPTransport(uds=str(sock))
            with httpx.Client(transport=transport, base_url="http://agent") as admin:
                path = "/v1/admin/flags/checkout/rollout"
                admin.post(path, json={"percent": 50, "by": "bob"}).raise_for_status()
            assert changed.wait(GUARD)
            second = {i for i, u in enumerate(users) if client.is_enabled("checkout", u)}
            return first, second, client.evaluate("nope")

    async def main() -> tuple[set[int], set[int], Any]:
        app = create_app(cast(Agent, SimpleNamespace(flags=service)))
        server = ControlServer(app, bind_control_socket(sock))
        await server.start()
        try:
            return await asyncio.to_thread(client_side)
        finally:
            await server.stop()

    first, second, unknown = run(main())
    assert 140 <= len(first) <= 260  # 10% of 2,000 with room for the hash's spread
    assert 880 <= len(second) <= 1120
    assert first <= second
    assert unknown.error_code is ErrorCode.FLAG_NOT_FOUND
