"""Fixtures for supervisor tests: a per-test token in every process's environment, a
guard that kills (by pid) and reports any process a test left behind, and templates."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from changeover.spec.models import Probes, Termination
from changeover.supervisor.model import ReplicaTemplate
from tests.io.supervisor.supervisor_helpers import TINYAPP, TOKEN_VAR, tagged


@pytest.fixture
def token() -> Iterator[str]:
    """A tag in every test process's environment; leftovers are killed and reported."""
    value = uuid.uuid4().hex
    yield value
    deadline = time.monotonic() + 2.0
    # A group SIGKILL sent just before the end is delivered asynchronously.
    while (leftovers := tagged(value)) and time.monotonic() < deadline:
        time.sleep(0.02)
    for proc in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.wait(5)  # reaps our own children, waits for the others
    assert not leftovers, f"test left processes running: {[p.pid for p in leftovers]}"


@pytest.fixture
def make_template(tmp_path: Path, token: str) -> Callable[..., ReplicaTemplate]:
    def make(
        *,
        env: dict[str, str] | None = None,
        command: str | None = None,
        probes: Probes | None = None,
        termination: Termination | None = None,
        revision: int = 1,
        workdir: Path | None = None,
    ) -> ReplicaTemplate:
        base = {**os.environ, TOKEN_VAR: token, "PYTHONUNBUFFERED": "1"}
        return ReplicaTemplate(
            revision=revision,
            version=f"v{revision}",
            command=command or f"{shlex.quote(sys.executable)} {shlex.quote(str(TINYAPP))}",
            workdir=workdir or tmp_path,
            env=base | (env or {}),
            probes=probes or Probes(),
            termination=termination or Termination(drain_timeout="5s", grace_period="5s"),
        )

    return make
