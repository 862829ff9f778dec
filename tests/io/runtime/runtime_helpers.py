"""Shared helpers of the runtime tests: a lifecycle with recorded effects, waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from changeover.runtime import Lifecycle
from changeover.runtime.fakes import FakeCall, RecordingEffects


def make_lifecycle(**kwargs: Any) -> tuple[Lifecycle, RecordingEffects]:
    effects = RecordingEffects()
    kwargs.setdefault("signals", ())
    return Lifecycle(environ={}, effects=effects, **kwargs), effects


async def start_lifespan(app: Any) -> FakeCall:
    call = FakeCall(app, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}})
    call.push({"type": "lifespan.startup"})
    await call.until("lifespan.startup.complete")
    return call


async def stop_lifespan(call: FakeCall) -> None:
    call.push({"type": "lifespan.shutdown"})
    await call.until("lifespan.shutdown.complete")


async def eventually(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait on the loop until `condition()` holds (a deadline, never a verdict by time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


def eventually_sync(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)
