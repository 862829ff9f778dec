"""`changeover down [--json]`: drain and stop everything; wait until the agent is gone (for a
remote environment, `down` runs on its host, over ssh, `--json` too)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import psutil
import typer

from changeover.agent.lock import is_locked
from changeover.agent.paths import StatePaths
from changeover.cli.client import AgentClient
from changeover.cli.common import (
    DEFAULT_SPEC,
    FAILED,
    Json,
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
    json: Json = False,
) -> None:
    """Stop accepting, finish in-flight requests, stop every replica, stop the agent."""
    paths = state_paths(state_dir, file)
    if isinstance(paths, RemotePaths):  # on its host, over ssh
        more = ["--json"] if json else []
        raise typer.Exit(run_on_host(paths.remote, "down", "--timeout", f"{timeout:g}", *more))
    if not is_locked(paths.lock):
        if json:
            out.print_json(data=stopped(paths, None, None, stopped=False))
        else:
            out.print(f"no agent is running for {paths.root}")
        return
    with AgentClient(paths) as client:
        before = client.get("/v1/status") if json else None  # what is about to stop
        pid = client.post("/v1/down")["pid"]
    done = wait_stopped(paths, timeout, pid)
    if json:
        out.print_json(data=stopped(paths, pid, before, stopped=done))
    if not done:
        fail(FAILED, f"the agent (pid {pid}) is still stopping after {timeout:g}s")
    if not json:
        out.print(f"stopped (agent pid {pid})")


def stopped(
    paths: StatePaths, pid: int | None, before: dict[str, Any] | None, *, stopped: bool
) -> dict[str, Any]:
    """`down --json`: the agent told to stop, the replicas it ran (each stopped with it)
    and the requests in flight when it was told, which it drained."""
    live = [r for r in (before or {}).get("replicas", []) if r["state"] != "exited"]
    inflight = None
    if before is not None:
        inflight = sum((r["metrics"] or {}).get("inflight", 0) for r in before["revisions"])
    return {
        "running": pid is not None,
        "stopped": stopped,
        "pid": pid,
        "state_dir": str(paths.root),
        "replicas": [{"id": r["id"], "revision": r["revision"], "pid": r["pid"]} for r in live],
        "inflight": inflight,
    }


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
