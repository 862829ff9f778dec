"""Helpers for the escape tests: a uvloop runner, waiting with deadlines, process checks,
and templates running `escape_app.py` with the test's token in its environment."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import psutil

from changeover.spec.models import Probes, Termination
from changeover.supervisor.model import ReplicaTemplate
from tests.helpers import bounded

T = TypeVar("T")
HERE = Path(__file__).parent
APP = HERE / "escape_app.py"
AGENT = HERE / "escape_agent.py"
TOKEN_VAR = "CHANGEOVER_ESCAPE_TEST_TOKEN"


def run(coro: Awaitable[T], timeout: float = 30.0) -> T:
    """Run `coro` on uvloop, as the agent does, failing after `timeout` seconds."""
    return bounded(coro, timeout, on_uvloop=True)


def read_pid(path: Path) -> int | None:
    with contextlib.suppress(FileNotFoundError, ValueError):
        return int(path.read_text())
    return None


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
