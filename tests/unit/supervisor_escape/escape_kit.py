"""Helpers for the escape tests: a uvloop runner, waiting with deadlines, process checks,
and templates running `escape_app.py` with the test's token in its environment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil
import uvloop

from changeover.spec.models import Probes, Termination
from changeover.supervisor.model import ReplicaTemplate

T = TypeVar("T")
HERE = Path(__file__).parent
APP = HERE / "escape_app.py"
AGENT = HERE / "escape_agent.py"
TOKEN_VAR = "CHANGEOVER_ESCAPE_TEST_TOKEN"


def run(coro: Awaitable[T], timeout: float = 30.0) -> T:
    """Run `coro` on uvloop, as the agent does, failing after `timeout` seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(bounded())


async def until(condition: Callable[[], Any], within: float = 10.0, what: str = "") -> Any:
    """Poll `condition` until truthy and return its value; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.02)
    return value


def wait_for(condition: Callable[[], Any], within: float = 10.0, what: str = "") -> Any:
    """`until` for synchronous tests."""
    deadline = time.monotonic() + within
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)
    return value


def read_pid(path: Path) -> int | None:
    with contextlib.suppress(FileNotFoundError, ValueError):
        return int(path.read_text())
    return None


def gone(pid: int) -> bool:
    """Dead: no such pid, or a zombie (killed, not reaped yet by its parent)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def exists(pid: int) -> bool:
    """The pid is still in the process table (alive, or a zombie nobody reaped)."""
    return os.path.exists(f"/proc/{pid}")


def tagged(token: str) -> list[psutil.Process]:
    """Live processes whose environment carries this test's token."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(TOKEN_VAR) == token and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def template(
    workdir: Path, token: str, mode: str, *args: str, grace: str = "5s"
) -> ReplicaTemplate:
    words = [sys.executable, str(APP), mode, str(workdir), *args]
    return ReplicaTemplate(
        revision=1,
        version="v1",
        command=" ".join(shlex.quote(w) for w in words),
        workdir=workdir,
        env={**os.environ, TOKEN_VAR: token},
        probes=Probes(),
        termination=Termination(drain_timeout="1s", grace_period=grace),
    )
