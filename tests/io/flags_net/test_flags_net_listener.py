"""The flags TCP listener on loopback: the token, only the read route, ETag, 304,
long-poll woken by an admin change on the control socket, bind errors, close."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import httpx
import pytest

from changeover.agent.events import EventLog
from changeover.agent.flags import FlagService
from changeover.agent.flags.gate import WHERE
from changeover.agent.flags.listener import FlagsListener, ListenerError
from changeover.spec.models import FlagsSettings
from changeover.store import Store

from ._net import BEARER, TOKEN, admin, rollout_flag, run, serving


def test_the_token_opens_the_same_document_as_the_control_socket(
    store: Store, service: FlagService, token_file: Path, short_tmp: Path
) -> None:
    service.put(rollout_flag(), by="ann", source="f")

    async def scenario() -> tuple[httpx.Response, httpx.Response, str | None]:
        async with (
            serving(service, token_file, short_tmp, EventLog(store)) as served,
            httpx.AsyncClient() as tcp,
            admin(served.socket) as local,
        ):
            over_tcp = await tcp.get(served.url, headers=BEARER)
            local_answer = await local.get("/v1/flags")
            return over_tcp, local_answer, served.listener.address

    over_tcp, local_answer, address = run(scenario())
    assert over_tcp.status_code == 200
    assert over_tcp.content == local_answer.content == service.body
    assert over_tcp.headers["etag"] == local_answer.headers["etag"] == service.etag
    assert over_tcp.headers["content-type"] == "application/json"
    assert address is not None
    assert address.startswith("127.0.0.1:")
    assert not address.endswith(":0")  # the port the kernel chose, as bound
    announced = [e.message for e in store.events() if e.kind == "agent"]
    assert announced == [f"flags listener on http://{address}/v1/flags (bearer token)"]


@pytest.mark.parametrize(
    ("headers", "challenge", "message"),
    [
        ({}, 'Bearer realm="changeover flags"', "missing `Authorization: Bearer <token>`"),
        (
            {"Authorization": "Bearer nope"},
            'Bearer realm="changeover flags", error="invalid_token"',
            "wrong bearer token",
        ),
        (
            {"Authorization": f"Bearer {TOKEN}x"},
            'Bearer realm="changeover flags", error="invalid_token"',
            "wrong bearer token",
        ),
        (
            {"Authorization": f"Basic {TOKEN}"},
            'Bearer realm="changeover flags", error="invalid_token"',
            "wrong bearer token",
        ),
    ],
)
def test_without_the_right_token_it_is_401_with_a_bearer_challenge(
    store: Store,
    service: FlagService,
    token_file: Path,
    short_tmp: Path,
    headers: dict[str, str],
    challenge: str,
    message: str,
) -> None:
    async def scenario() -> list[httpx.Response]:
        async with (
            serving(service, token_file, short_tmp, EventLog(store)) as served,
            httpx.AsyncClient() as tcp,
        ):
            base = served.url.removesuffix("/v1/flags")
            # unknown paths too: nothing is told to a caller without the token
            return [await tcp.get(f"{base}{p}", headers=headers) for p in ("/v1/flags", "/x")]

    for answer in run(scenario()):
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == challenge
        assert answer.json() == {"error": message, "lines": [message, WHERE]}
        assert "features" not in answer.text


def test_admin_routes_and_every_other_path_are_404_over_tcp(
    store: Store, service: FlagService, token_file: Path, short_tmp: Path
) -> None:
    service.put(rollout_flag(), by="ann", source="f")
    before = service.etag

    async def scenario() -> list[httpx.Response]:
        async with serving(service, token_file, short_tmp, EventLog(store)) as served:
            base = served.url.removesuffix("/v1/flags")
            async with httpx.AsyncClient(base_url=base, headers=BEARER) as tcp:
                return [
                    await tcp.get("/v1/admin/flags"),
                    await tcp.get("/v1/admin/flags/checkout"),
                    await tcp.post("/v1/admin/flags/checkout/disable", json={"by": "eve"}),
                    await tcp.post("/v1/down"),
                    await tcp.get("/v1/status"),
                    await tcp.get("/"),
                ]

    answers = run(scenario())
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert answers[0].json()["error"] == (
        "not found: /v1/admin/flags; this listener serves GET /v1/flags"
    )
    assert service.etag == before  # the disable never happened
    assert service.put(rollout_flag(), by="x", source="f") == []


def test_a_post_to_the_document_is_405_and_a_bad_wait_400(
    store: Store, service: FlagService, token_file: Path, short_tmp: Path
) -> None:
    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with (
            serving(service, token_file, short_tmp, EventLog(store)) as served,
            httpx.AsyncClient(headers=BEARER) as tcp,
        ):
            return await tcp.post(served.url), await tcp.get(f"{served.url}?wait=soon")

    posted, bad_wait = run(scenario())
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET")
    assert bad_wait.status_code == 400
    assert bad_wait.json()["lines"] == ["wait: expected a duration like 30s or 500ms, got 'soon'"]


def test_if_none_match_is_304_and_a_long_poll_wakes_on_an_admin_change(
    store: Store, service: FlagService, token_file: Path, short_tmp: Path
) -> None:
    service.put(rollout_flag(), by="ann", source="f")
    etag = service.etag

    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with (
            serving(service, token_file, short_tmp, EventLog(store)) as served,
            httpx.AsyncClient(headers=BEARER) as tcp,
            admin(served.socket) as local,
        ):
            same = await tcp.get(served.url, headers={"If-None-Match": etag})
            generation = service.generation
            poll = asyncio.create_task(
                tcp.get(f"{served.url}?wait=60s", headers={"If-None-Match": etag})
            )
            await _until_held(service)
            assert not poll.done()
            assert service.generation == generation
            changed = await local.post(
                "/v1/admin/flags/checkout/rollout", json={"percent": 50, "by": "bob"}
            )
            return same, changed, await poll  # well before the 60 s wait

    same, changed, woken = run(scenario())
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
    assert changed.json() == {"message": "bob changed flag 'checkout': rollout 10% -> 50%"}
    assert woken.status_code == 200
    assert woken.headers["etag"] == service.etag != etag
    assert b'"rollout":"50"' in woken.content


async def _until_held(service: FlagService) -> None:
    """Loop turns until the long-poll request is parked in the service."""
    while not service.served.waiting:
        await asyncio.sleep(0.005)


def test_a_held_long_poll_answers_304_at_once_when_the_agent_stops(
    store: Store, token_file: Path, short_tmp: Path
) -> None:
    async def scenario() -> tuple[httpx.Response, int]:
        stopping = asyncio.Event()
        service = FlagService(store, EventLog(store), stopping=stopping)
        async with (
            serving(service, token_file, short_tmp, EventLog(store)) as served,
            httpx.AsyncClient(headers=BEARER) as tcp,
        ):
            wait = {"If-None-Match": service.etag}
            poll = asyncio.create_task(tcp.get(f"{served.url}?wait=60s", headers=wait))
            await _until_held(service)
            stopping.set()
            answer = await poll  # the 60 s wait would outlast GUARD: this is the stop
            port = int((served.listener.address or "").rsplit(":", 1)[1])
        return answer, port

    answer, port = run(scenario())
    assert (answer.status_code, answer.content) == (304, b"")
    with pytest.raises(ConnectionRefusedError):  # closed with the agent: nothing listens
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_a_bind_error_names_the_key_and_the_address(token_file: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        settings = FlagsSettings(listen=f"127.0.0.1:{port}", token_file="token")
        with pytest.raises(ListenerError) as exc:
            FlagsListener.open(settings, token_file.parent / "svc.toml")
    assert str(exc.value) == (
        f"{token_file.parent / 'svc.toml'}: flags.listen: cannot listen on "
        f"127.0.0.1:{port}: Address already in use"
    )


def test_the_next_agent_can_bind_the_same_address_during_a_handover(token_file: Path) -> None:
    spec = token_file.parent / "svc.toml"
    first = FlagsListener.open(FlagsSettings(listen="127.0.0.1:0", token_file="token"), spec)
    try:
        again = FlagsSettings(listen=first.address, token_file="token")
        second = FlagsListener.open(again, spec)  # SO_REUSEPORT, same user
        assert second.address == first.address
        run(second.close())
    finally:
        run(first.close())


def test_without_listen_there_is_nothing_to_open_or_close(tmp_path: Path) -> None:
    listener = FlagsListener.open(FlagsSettings(), tmp_path / "svc.toml")  # no token file read
    assert listener.address is None
    run(listener.close())


def test_an_ipv6_address_is_shown_in_brackets(token_file: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    settings = FlagsSettings(listen="[::1]:0", token_file="token")
    try:
        listener = FlagsListener.open(settings, token_file.parent / "svc.toml")
    except ListenerError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        assert re.fullmatch(r"\[::1\]:\d+", listener.address or "")
    finally:
        run(listener.close())


def test_past_its_connection_cap_it_answers_503_until_a_connection_closes(
    store: Store, service: FlagService, token_file: Path
) -> None:
    settings = FlagsSettings(listen="127.0.0.1:0", token_file=token_file.name)

    async def scenario() -> tuple[int, int]:
        listener = FlagsListener.open(settings, token_file.parent / "svc.toml", max_connections=2)
        await listener.start(service, EventLog(store))
        host, port = (listener.address or "").rsplit(":", 1)
        try:
            idle = [await asyncio.open_connection(host, int(port)) for _ in range(2)]
            async with httpx.AsyncClient(headers=BEARER) as tcp:
                url = f"http://{listener.address}/v1/flags"
                over = (await tcp.get(url)).status_code  # accepted after the two idle ones
                for _, writer in idle:
                    writer.close()
                    await writer.wait_closed()
                while (after := (await tcp.get(url)).status_code) == 503:
                    await asyncio.sleep(0.01)  # until the server saw the two closes
        finally:
            await listener.close()
        return over, after

    assert run(scenario()) == (503, 200)
