"""`flags.Client` with a token against the real TCP listener, and `from_env()` reading
CHANGEOVER_FLAGS_TOKEN only for a TCP URL (replicas keep the unix socket)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

import changeover.flags.client as client_module
from changeover.agent.events import EventLog
from changeover.agent.flags import FlagService
from changeover.flags import Client
from changeover.store import Store

from ._net import GUARD, TOKEN, Served, rollout_flag, run, serving

USERS = [{"userId": str(u)} for u in range(1000)]


def enabled(client: Client) -> set[int]:
    return {i for i, user in enumerate(USERS) if client.is_enabled("checkout", user)}


def follow(client: Client, served: Served) -> tuple[set[int], set[int]]:
    """The share before and after a rollout made through the control socket."""
    assert client.wait_until_ready(GUARD)
    first = enabled(client)
    changed = threading.Event()
    client.on_change(lambda event: changed.set())
    transport = httpx.HTTPTransport(uds=str(served.socket))
    with httpx.Client(transport=transport, base_url="http://agent") as local:
        path = "/v1/admin/flags/checkout/rollout"
        local.post(path, json={"percent": 50, "by": "bob"}).raise_for_status()
    assert changed.wait(GUARD), "the change did not reach the client"
    return first, enabled(client)


def over_tcp(
    store: Store, service: FlagService, token_file: Path, short_tmp: Path, make: Any
) -> Any:
    """Run `make(served)` (blocking, in a thread) while both listeners serve."""
    service.put(rollout_flag(), by="ann", source="f")

    async def main() -> Any:
        async with serving(service, token_file, short_tmp, EventLog(store)) as served:
            return await asyncio.to_thread(make, served)

    return run(main())


def test_a_client_with_the_token_follows_changes_over_tcp(
    store: Store, service: FlagService, token_file: Path, short_tmp: Path
) -> None:
    def side(served: Served) -> tuple[set[int], set[int]]:
        with Client(served.url, token=TOKEN, poll_interval=1.0) as client:
            return follow(client, served)

    first, second = over_tcp(store, service, token_file, short_tmp, side)
    assert 60 <= len(first) <= 140  # 10% of 1,000, with room for the hash's spread
    assert 440 <= len(second) <= 560
    assert first <= second


def test_from_env_takes_the_url_and_token_of_a_tcp_listener(
    store: Store, service: FlagService, token_file: Path, short_tmp: Path
) -> None:
    def side(served: Served) -> tuple[set[int], set[int]]:
        env = {"CHANGEOVER_FLAGS_URL": served.url, "CHANGEOVER_FLAGS_TOKEN": TOKEN}
        with Client.from_env(env, poll_interval=1.0) as client:
            return follow(client, served)

    first, second = over_tcp(store, service, token_file, short_tmp, side)
    assert first < second


def test_without_the_token_the_client_stays_on_its_defaults_and_says_why(
    store: Store, service: FlagService, token_file: Path, short_tmp: Path
) -> None:
    def side(served: Served) -> tuple[bool, str | None]:
        env = {"CHANGEOVER_FLAGS_URL": served.url}
        with Client.from_env(env, poll_interval=1.0) as client:
            deadline = time.monotonic() + GUARD
            while time.monotonic() < deadline:
                status = client.status()
                if status is not None and status.failures:
                    return client.is_enabled("checkout", USERS[0], default=True), status.last_error
                time.sleep(0.02)
            raise AssertionError("the client never reported a failed fetch")

    default, error = over_tcp(store, service, token_file, short_tmp, side)
    assert default is True
    assert error == "flag server answered HTTP 401"


class Recorded:
    """Stands in for the transport: what the client would send, and where."""

    seen: ClassVar[list[tuple[str, str | None, dict[str, str] | None]]] = []

    def __init__(self, url: str, *, uds: str | None, timeout: float, headers: Any) -> None:
        Recorded.seen.append((url, uds, headers))

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("env", "sent"),
    [
        (  # a replica: the unix socket, no token even if one is in the environment
            {"CHANGEOVER_FLAGS_SOCKET": "/s/agent.sock", "CHANGEOVER_FLAGS_TOKEN": "t"},
            ("http://agent/v1/flags", "/s/agent.sock", None),
        ),
        (
            {"CHANGEOVER_FLAGS_URL": "http://flags:8090/v1/flags", "CHANGEOVER_FLAGS_TOKEN": "t"},
            ("http://flags:8090/v1/flags", None, {"Authorization": "Bearer t"}),
        ),
        (
            {"CHANGEOVER_FLAGS_URL": "http://flags:8090/v1/flags"},
            ("http://flags:8090/v1/flags", None, None),
        ),
    ],
)
def test_from_env_sends_the_token_only_to_a_tcp_url(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], sent: tuple[Any, ...]
) -> None:
    Recorded.seen = []
    monkeypatch.setattr(client_module, "Fetcher", Recorded)
    monkeypatch.setattr(client_module, "Refresher", _NoThread)
    Client.from_env(env)
    assert Recorded.seen == [sent]


class _NoThread:
    def __init__(self, *args: Any) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


@pytest.mark.parametrize("token", ["", "two words", "line\nbreak", "caf\u00e9"])
def test_a_bad_token_is_refused_at_construction(token: str) -> None:
    with pytest.raises(ValueError, match="token: expected one word of visible ASCII"):
        Client("http://127.0.0.1:1/v1/flags", token=token)
