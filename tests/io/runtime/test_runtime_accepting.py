"""Under `changeover run` the stopping server stops accepting at the signal, not after the
drain delay: the next generation takes new connections on the shared socket."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterator
from types import FrameType

import pytest
import uvloop

from changeover.runtime import Lifecycle
from changeover.runtime.accepting import listeners, stop_accepting, successor_shares_listener
from changeover.runtime.asgi_types import Receive, Scope, Send
from changeover.runtime.fakes import FakeClock, RecordingEffects
from tests.io.runtime.runtime_helpers import eventually, start_lifespan

SIG = signal.SIGUSR1  # stands in for SIGTERM so a slip never stops the test run


class UvicornLike:
    """What the runtime finds behind uvicorn's handler: a bound `handle_exit`, `servers`."""

    def __init__(self, servers: list[asyncio.AbstractServer]) -> None:
        self.servers = servers
        self.exits: list[int] = []

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.exits.append(sig)


@pytest.fixture
def restore_sig() -> Iterator[None]:
    original = signal.getsignal(SIG)
    try:
        yield
    finally:
        signal.signal(SIG, original)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("no lifespan")


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def stop_with_signal(environ: dict[str, str]) -> tuple[bool, UvicornLike]:
    """Serve, get SIG, and report whether the listener still serves during the drain delay."""
    listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server = UvicornLike([listener])
    signal.signal(SIG, server.handle_exit)
    lifecycle = Lifecycle(
        drain_delay=30, environ=environ, signals=(SIG,), effects=RecordingEffects(FakeClock())
    )
    try:
        await start_lifespan(lifecycle.asgi(app))
        os.kill(os.getpid(), SIG)
        await eventually(lambda: lifecycle.stopping.is_set(), "the drain to begin")
        if successor_shares_listener(environ):
            await eventually(lambda: not listener.is_serving(), "the listener to close")
            assert await refused(port)
        return listener.is_serving(), server
    finally:
        lifecycle._engine.relay.restore()
        listener.close()


def test_a_generation_of_changeover_run_stops_accepting_at_the_signal(restore_sig: None) -> None:
    serving, server = asyncio.run(stop_with_signal({"CHANGEOVER_GENERATION": "2"}))
    assert not serving
    assert server.exits == []  # the fake clock holds the drain delay: closed at the signal


def test_elsewhere_it_keeps_accepting_through_the_drain_delay(restore_sig: None) -> None:
    serving, server = asyncio.run(stop_with_signal({}))
    assert serving  # load balancers may still send new connections during the delay
    assert server.exits == []


@pytest.mark.parametrize("loop", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_listeners_are_found_only_behind_a_bound_handler_with_servers(
    loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """uvicorn runs on uvloop when it is installed: its servers are not asyncio's class."""

    async def scenario() -> None:
        listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        try:
            server = UvicornLike([listener])
            found = listeners([server.handle_exit, signal.SIG_DFL, None, print, lambda s, f: 0])
            assert found == [listener]
            assert stop_accepting(found) == 1
            await eventually(lambda: not listener.is_serving(), "the listener to close")
        finally:
            listener.close()

    with asyncio.Runner(loop_factory=loop) as runner:
        runner.run(scenario())
    assert not successor_shares_listener({"CHANGEOVER_GENERATION": ""})
