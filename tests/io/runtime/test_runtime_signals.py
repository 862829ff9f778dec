"""Signal chaining: the runtime hears the stop first and passes it on when drained."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from changeover.runtime import ExitCode
from changeover.runtime.asgi_types import Receive, Scope, Send
from changeover.runtime.fakes import FakeCall, get, http_scope
from changeover.runtime.signals import SignalRelay
from tests.io.runtime.runtime_helpers import (
    eventually,
    make_lifecycle,
    start_lifespan,
    stop_lifespan,
)

SIG = signal.SIGUSR1  # stands in for SIGTERM so a slip never stops the test run


@pytest.fixture
def server_handler() -> Iterator[list[int]]:
    """A 'server' handler on SIG (as uvicorn installs for SIGTERM), restored afterwards."""
    calls: list[int] = []

    def handle(sig: int, frame: FrameType | None) -> None:
        calls.append(sig)

    original = signal.signal(SIG, handle)
    try:
        yield calls
    finally:
        signal.signal(SIG, original)


def test_relay_calls_the_saved_handler_once_per_signal(server_handler: list[int]) -> None:
    wakes: list[None] = []
    relay = SignalRelay(lambda: wakes.append(None))
    assert relay.install((SIG,))
    assert relay.install((SIG,))  # twice is harmless: the saved handler stays the server's
    os.kill(os.getpid(), SIG)
    assert relay.received == [SIG]
    assert len(wakes) == 1
    assert server_handler == []  # held
    relay.release()
    relay.release()
    assert server_handler == [SIG]
    relay.restore()
    assert signal.getsignal(SIG) != relay._handle


def test_signal_holds_the_server_until_the_request_finishes(server_handler: list[int]) -> None:
    async def scenario() -> None:
        gate = asyncio.Event()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                raise RuntimeError("no lifespan")
            await gate.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        order: list[str] = []
        lifecycle, effects = make_lifecycle(signals=(SIG,))
        lifecycle.on_shutdown(lambda: order.append("hook"), name="hook")
        wrapped = lifecycle.asgi(app)
        lifespan = await start_lifespan(wrapped)
        call = FakeCall(wrapped, http_scope("/slow"))
        await eventually(lambda: lifecycle.in_flight == 1, "request in flight")
        os.kill(os.getpid(), SIG)
        await eventually(lambda: lifecycle.stopping.is_set(), "drain to begin")
        assert (await get(wrapped, "/readyz"))[0] == 503
        assert server_handler == []  # the server keeps accepting while a request runs
        gate.set()
        await call.response()
        await eventually(lambda: server_handler == [SIG], "the server's handler")
        await stop_lifespan(lifespan)  # what the server does next
        assert order == ["hook"]
        assert effects.exits == [int(ExitCode.CLEAN)]  # a signal began it: the runtime exits
        lifecycle._engine.relay.restore()

    asyncio.run(scenario())


def test_without_a_server_handler_the_runtime_finishes_by_itself() -> None:
    async def scenario() -> None:
        original = signal.signal(SIG, signal.SIG_DFL)
        try:
            lifecycle, effects = make_lifecycle(signals=(SIG,))

            async def app(scope: Scope, receive: Receive, send: Send) -> None:
                raise RuntimeError("no lifespan")

            lifecycle.on_shutdown(lambda: None, name="noop")
            await start_lifespan(lifecycle.asgi(app))
            os.kill(os.getpid(), SIG)
            await eventually(lambda: effects.exits, "the exit")
            assert effects.exits == [0]
            lifecycle._engine.relay.restore()
        finally:
            signal.signal(SIG, original)

    asyncio.run(scenario())
