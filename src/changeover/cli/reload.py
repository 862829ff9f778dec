"""`changeover reload`: the agent hands over to a new agent that adopts the running replicas.

Invariant: the exit code tells where things stand: 0 the new agent serves (and the old
one has exited or is told to), 1 the new agent failed and the old one still serves,
2 refused (a rollout in progress, ...), 3 no agent answered.
"""

from __future__ import annotations

import time
from typing import Annotated

import psutil

from changeover.cli.client import AgentClient
from changeover.cli.common import (
    BAD_INPUT,
    DEFAULT_SPEC,
    FAILED,
    SpecFile,
    StateDir,
    duration_option,
    fail,
    out,
    state_paths,
)


def reload(
    timeout: Annotated[
        float,
        duration_option(
            "--timeout", help="How long the new agent gets to become ready.", default=30.0
        ),
    ] = 30.0,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
) -> None:
    """Replace the agent by a new one without restarting replicas or failing a request."""
    paths = state_paths(state_dir, file)
    if timeout < 0.1:
        fail(BAD_INPUT, f"--timeout: expected at least 100ms, got {timeout:g}s")
    with AgentClient(paths, timeout=timeout + 30.0) as client:
        outcome = client.post(f"/v1/reload?timeout={timeout:g}")
    old, new = outcome["old_pid"], outcome["new_pid"]
    if not outcome["ok"]:
        fail(FAILED, f"reload failed: {outcome['reason']}", f"agent pid {old} still serves")
    out.print(f"reloaded: agent pid {old} -> {new}; replicas kept")
    if not _wait_exit(old, timeout):
        out.print(f"the old agent (pid {old}) is still draining requests")


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False
