"""`changeover down`: drain and stop everything; wait until the agent is gone (for a
remote environment, `down` runs on its host, over ssh)."""

from __future__ import annotations

import time
from typing import Annotated

import psutil
import typer

from changeover.agent.lock import is_locked
from changeover.agent.paths import StatePaths
from changeover.cli.client import AgentClient
from changeover.cli.common import (
    DEFAULT_SPEC,
    FAILED,
    SpecFile,
    StateDir,
    duration_option,
    fail,
    out,
    state_paths,
)
from changeover.cli.remote import run_on_host
from changeover.cli.ssh import RemotePaths


def down(
    timeout: Annotated[
        float,
        duration_option("--timeout", help="How long to wait for the agent to stop.", default=300.0),
    ] = 300.0,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
) -> None:
    """Stop accepting, finish in-flight requests, stop every replica, stop the agent."""
    paths = state_paths(state_dir, file)
    if isinstance(paths, RemotePaths):  # on its host, over ssh
        raise typer.Exit(run_on_host(paths.remote, "down", "--timeout", f"{timeout:g}"))
    if not is_locked(paths.lock):
        out.print(f"no agent is running for {paths.root}")
        return
    with AgentClient(paths) as client:
        pid = client.post("/v1/down")["pid"]
    if not wait_stopped(paths, timeout, pid):
        fail(FAILED, f"the agent (pid {pid}) is still stopping after {timeout:g}s")
    out.print(f"stopped (agent pid {pid})")


def wait_stopped(paths: StatePaths, timeout: float, pid: int | None = None) -> bool:
    """True once the agent released its lock and (given its pid) its process has exited."""
    deadline = time.monotonic() + timeout
    # the lock goes a moment before the process: interpreter teardown still runs after it
    while is_locked(paths.lock) or (pid is not None and _running(pid)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
