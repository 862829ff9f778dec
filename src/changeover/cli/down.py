"""`changeover down`: drain and stop everything; wait until the agent is gone."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from changeover.agent.lock import is_locked
from changeover.cli.client import AgentClient
from changeover.cli.common import DEFAULT_SPEC, FAILED, SpecFile, StateDir, fail, out, state_paths


def down(
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the agent to stop.")
    ] = 300.0,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
) -> None:
    """Stop accepting, finish in-flight requests, stop every replica, stop the agent."""
    paths = state_paths(state_dir, file)
    if not is_locked(paths.lock):
        out.print(f"no agent is running for {paths.root}")
        return
    with AgentClient(paths) as client:
        pid = client.post("/v1/down")["pid"]
    deadline = time.monotonic() + timeout
    while is_locked(paths.lock):
        if time.monotonic() > deadline:
            fail(FAILED, f"the agent (pid {pid}) is still stopping after {timeout:g}s")
        time.sleep(0.1)
    out.print(f"stopped (agent pid {pid})")
