"""`[proxy] trusted_proxies` on both engines, built by the agent's `make` from the spec's
`[proxy]` and served on loopback (the haproxy engine by a real HAProxy): a trusted
peer's X-Forwarded-Proto and X-Forwarded-Host reach the replica as it sent them, anyone
else's are overwritten, absent ones are set as always, X-Forwarded-For is appended for
every peer; the preview listener's connections are never trusted; an IPv4 client of a
dual-stack listener is matched as its IPv4 address.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from changeover.agent.engine import Engine, make
from changeover.agent.paths import StatePaths
from changeover.agent.serve import proxy_config
from changeover.proxy.policy import TrafficPolicy
from changeover.proxy.server import Proxy
from changeover.spec.models import ProxySettings
from tests.helpers import bounded, until
from tests.parts import require

ENGINES = ["builtin", "haproxy"]
FORWARDED = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host")
LB = {  # what a TLS-terminating load balancer sends
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "shop.example",
}


class Echo:
    """A replica stand-in answering the X-Forwarded-* headers it got, as JSON: each one's
    field lines joined as one list (HAProxy appends X-Forwarded-For as a line of its own,
    the builtin proxy to the client's line: the same list to an application)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline():
                seen: dict[str, list[str]] = {name: [] for name in FORWARDED}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() in seen:
                        seen[name.strip().lower()].append(value.strip())
                body = json.dumps({k: ", ".join(v) for k, v in seen.items() if v}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@asynccontextmanager
async def serving(
    tmp_path: Path, engine_name: str, trusted: list[str], public: socket.socket | None = None
) -> AsyncIterator[Engine]:
    """The engine `[proxy]` names, routing every request to one echo replica."""
    if engine_name == "haproxy":
        require("haproxy", "haproxy")
    settings = ProxySettings(engine=engine_name, trusted_proxies=trusted)  # type: ignore[arg-type]
    paths = StatePaths(tmp_path / "state")
    paths.ensure()
    engine = make(settings, paths, builtin=lambda: Proxy(proxy_config(settings, paths.logs)))
    echo = Echo()
    port = await echo.start()
    await engine.serve(public or socket.create_server(("127.0.0.1", 0)))
    try:
        engine.add_endpoint("r1", 1, "127.0.0.1", port)
        engine.set_routable("r1", True)
        engine.set_traffic(TrafficPolicy({1: 100}))
        engine.set_preview(1)
        await until(lambda: getattr(engine, "pending", 0) == 0, 10, "the runtime API caught up")
        yield engine
    finally:
        await engine.shutdown(timeout=2.0)
        echo.close()


async def forwarded(url: str, headers: dict[str, str]) -> dict[str, str]:
    async with httpx.AsyncClient() as client:
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        seen: dict[str, str] = response.json()
        return seen


def url_of(address: tuple[str, int]) -> str:
    host, port = address
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def run(test: Callable[[], Awaitable[Any]]) -> Any:
    return bounded(test(), 60.0, on_uvloop=True)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_trusted_peer_keeps_its_forwarded_proto_and_host(
    tmp_path: Path, engine_name: str
) -> None:
    async def go() -> None:
        async with serving(tmp_path, engine_name, ["10.0.0.0/8", "127.0.0.0/8"]) as engine:
            url = url_of(engine.address)
            assert await forwarded(url, LB) == {
                "x-forwarded-for": "203.0.113.7, 127.0.0.1",
                "x-forwarded-proto": "https",
                "x-forwarded-host": "shop.example",
            }
            # a trusted peer that sends none gets them set, as anyone
            host = url.split("/")[2]
            assert await forwarded(url, {}) == {
                "x-forwarded-for": "127.0.0.1",
                "x-forwarded-proto": "http",
                "x-forwarded-host": host,
            }

    run(go)


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("trusted", [[], ["10.0.0.0/8", "::1"]])
def test_anyone_else_has_them_overwritten(
    tmp_path: Path, engine_name: str, trusted: list[str]
) -> None:
    async def go() -> None:
        async with serving(tmp_path, engine_name, trusted) as engine:
            url = url_of(engine.address)
            assert await forwarded(url, LB) == {
                "x-forwarded-for": "203.0.113.7, 127.0.0.1",
                "x-forwarded-proto": "http",
                "x-forwarded-host": url.split("/")[2],
            }

    run(go)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_the_preview_listener_never_trusts(tmp_path: Path, engine_name: str) -> None:
    async def go() -> None:
        async with serving(tmp_path, engine_name, ["127.0.0.0/8"]) as engine:
            await engine.serve_preview(socket.create_server(("127.0.0.1", 0)))
            address = engine.preview_address
            assert address is not None
            seen = await forwarded(url_of(address), LB)
            assert seen["x-forwarded-proto"] == "http"
            assert seen["x-forwarded-host"] == f"{address[0]}:{address[1]}"
            # HAProxy gets the connection over a socketpair: no peer address to append
            expected_for = "203.0.113.7" if engine_name == "haproxy" else "203.0.113.7, 127.0.0.1"
            assert seen["x-forwarded-for"] == expected_for

    run(go)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_an_ipv4_client_of_a_dual_stack_listener_is_matched_as_ipv4(
    tmp_path: Path, engine_name: str
) -> None:
    async def go() -> None:
        try:
            public = socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=True)
        except OSError as exc:
            pytest.skip(f"no dual-stack IPv6 listener here: {exc}")
        port = public.getsockname()[1]
        async with serving(tmp_path, engine_name, ["127.0.0.0/8"], public):
            seen = await forwarded(f"http://127.0.0.1:{port}/", LB)
            assert seen["x-forwarded-proto"] == "https"
            assert seen["x-forwarded-host"] == "shop.example"
            # over IPv6 loopback the peer is ::1, outside 127.0.0.0/8
            seen = await forwarded(f"http://[::1]:{port}/", LB)
            assert seen["x-forwarded-proto"] == "http"

    run(go)
