"""What tests in every tier share: waiting for a condition, process checks, free ports,
and a bounded coroutine runner.

Invariant: a deadline here only ever fails a test that is about to fail anyway; no verdict
depends on how fast the machine is. Fake time for pure logic is `FakeClock` (shipped in
`changeover.runtime.fakes`, re-exported here).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import psutil
import pytest
import uvloop

from changeover.machine import IllegalTransition, Table, label
from changeover.runtime.fakes import FakeClock

__all__ = [
    "FakeClock",
    "bounded",
    "check_answer",
    "free_port",
    "gone",
    "until",
    "wait_for",
    "wait_gone",
]

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    within: float = 10.0,
    what: str = "",
    *,
    every: float = 0.05,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll `condition` until it is truthy and return its value; fail after `within`
    seconds, saying what was awaited (and `detail()`, e.g. a server's output)."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            more = f"\n{detail()}" if detail is not None else ""
            awaited = what or condition
            raise AssertionError(f"timed out after {within:g}s waiting for {awaited}{more}")
        time.sleep(every)


async def until(
    condition: Callable[[], T], within: float = 10.0, what: str = "", *, every: float = 0.02
) -> T:
    """`wait_for` inside a running loop: polls without blocking it, on the loop's clock."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what or condition}")
        await asyncio.sleep(every)


def gone(pid: int) -> bool:
    """The process is dead: no such pid, or a zombie nobody has reaped yet."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, within: float = 10.0) -> bool:
    """Whether `pid` dies within `within` seconds (only a failing test waits that long)."""
    deadline = time.monotonic() + within
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bounded(
    coro: Coroutine[Any, Any, T] | Awaitable[T], guard: float = 20.0, *, on_uvloop: bool = False
) -> T:
    """Run a test's coroutine with a guard, so a hung test fails instead of hanging CI;
    `on_uvloop` runs it on uvloop, as the agent runs."""

    async def run() -> T:
        async with asyncio.timeout(guard):
            return await coro

    factory = uvloop.new_event_loop if on_uvloop else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(run())


def check_answer(table: Table[Any, Any], state: Any, event: Any, expected: Any) -> None:
    """One answer of a state table, as every table test checks it: `expected` (the next
    state), or, when None, the refusal that names the machine, the event and the state."""
    if expected is not None:
        assert table.transition(state, event) is expected
        return
    refusal = f"^{re.escape(table.machine)} cannot take {re.escape(label(event))} when "
    with pytest.raises(IllegalTransition, match=refusal + re.escape(label(state))):
        table.transition(state, event)
