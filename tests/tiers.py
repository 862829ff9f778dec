"""The test tiers are a checked fact: a test under tests/core opens no socket, runs no
event loop and starts no process.

`tests/core/conftest.py` loads this for every core test; a test that tries any of those
fails with a message saying to move it to tests/io. Code under test may swallow the
error, so every attempt is also recorded and fails the test at teardown.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvloop


class TierViolation(RuntimeError):
    pass


def _refuse(what: str, seen: list[str]) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        seen.append(what)
        raise TierViolation(f"a tests/core test must not {what}: move it to tests/io")

    return refuse


@pytest.fixture(autouse=True)
def core_tier(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    seen: list[str] = []

    class NoSocket(socket.socket):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            _refuse("open a socket", seen)()

    monkeypatch.setattr(socket, "socket", NoSocket)
    for name in ("socketpair", "create_connection", "create_server", "fromfd"):
        monkeypatch.setattr(socket, name, _refuse(f"open a socket ({name})", seen))
    no_loop = _refuse("run an event loop", seen)

    def refuse_loop(self: asyncio.AbstractEventLoop, *args: Any, **kwargs: Any) -> None:
        self._closed = True  # type: ignore[attr-defined]  # keeps __del__ quiet
        no_loop()

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "__init__", refuse_loop)
    for name in ("new_event_loop", "run"):
        monkeypatch.setattr(uvloop, name, _refuse(f"run an event loop (uvloop.{name})", seen))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a process", seen))
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "execv", "execve"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _refuse(f"start a process (os.{name})", seen))
    yield
    if seen:
        pytest.fail(f"a tests/core test must not {seen[0]}: move it to tests/io", pytrace=False)
