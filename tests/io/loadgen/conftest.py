"""Fixtures for the load generator tests: run each async scenario on asyncio and uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}

GUARD = 30.0
"""Seconds before a hung scenario fails; only a test that is about to fail reaches it."""


@pytest.fixture(params=sorted(LOOPS))
def arun(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Run a coroutine to completion on a fresh loop of the parametrised kind."""
    factory = LOOPS[request.param]

    async def guarded(coro: Coroutine[Any, Any, Any]) -> Any:
        async with asyncio.timeout(GUARD):
            return await coro

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(guarded(coro))

    return run
