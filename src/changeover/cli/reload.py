"""`changeover reload [--json]`: the agent hands over to a new agent that adopts the running
replicas.

Invariant: the exit code tells where things stand: 0 the new agent serves (and the old
one has exited or is told to), 1 the new agent failed and the old one still serves,
2 refused (a rollout in progress, ...), 3 no agent answered. Every request, for an
environment on another host too, goes through the one agent connection (`AgentClient`:
the control socket here, `ssh HOST changeover dial` there); which agent serves is what
that connection's `/v1/status` answers. The old agent's exit is watched by its pid only
where it runs on this machine: on another host it is not known here (null).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import psutil
import typer

from changeover.agent.paths import StatePaths
from changeover.cli.client import AgentClient, Unreachable
from changeover.cli.common import (
    BAD_INPUT,
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
from changeover.cli.ssh import RemotePaths

POLL = 0.05  # seconds between looks at the old agent's pid or the agent's status


def reload(
    timeout: Annotated[
        float,
        duration_option(
            "--timeout", help="How long the new agent gets to become ready.", default=30.0
        ),
    ] = 30.0,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Replace the agent by a new one without restarting replicas or failing a request."""
    paths = state_paths(state_dir, file)
    if timeout < 0.1:
        fail(BAD_INPUT, f"--timeout: expected at least 100ms, got {timeout:g}s")
    with AgentClient(paths, timeout=timeout + 30.0) as client:
        doc = run_reload(client, paths, timeout)
    if json:
        out.print_json(data=doc)
        if not doc["ok"]:
            raise typer.Exit(FAILED)
        return
    old, new = doc["old_pid"], doc["new_pid"]
    if not doc["ok"]:
        fail(FAILED, f"reload failed: {doc['reason']}", f"agent pid {old} still serves")
    out.print(f"reloaded: agent pid {old} -> {new}; replicas kept")
    if doc["agent_pid"] != new:
        answered = "no agent" if doc["agent_pid"] is None else f"agent pid {doc['agent_pid']}"
        out.print(f"{answered} answered on the control connection within {timeout:g}s")
    if isinstance(paths, RemotePaths):
        out.print(
            f"the old agent (pid {old} on {paths.remote.host.url}) exits by itself once it "
            "has drained its requests",
            markup=False,
        )
    elif doc["old_exited"] is False:
        out.print(f"the old agent (pid {old}) is still draining requests")


def run_reload(client: AgentClient, paths: StatePaths, timeout: float) -> dict[str, Any]:
    """Ask for the handover; the agent's answer plus `agent_pid` (who answers `/v1/status`
    afterwards) and `old_exited` (True/False where the old agent's pid can be watched)."""
    outcome = client.post(f"/v1/reload?timeout={timeout:g}")
    old, new = outcome["old_pid"], outcome["new_pid"]
    doc: dict[str, Any] = {
        "ok": bool(outcome["ok"]),
        "old_pid": old,
        "new_pid": new,
        "reason": outcome["reason"],
        "old_exited": None,
        "agent_pid": None,
    }
    if not doc["ok"]:
        doc["agent_pid"] = answering(client, None, 0.0)
        return doc
    doc["agent_pid"] = answering(client, new, timeout)
    if not isinstance(paths, RemotePaths):  # a pid of this machine: watch it
        doc["old_exited"] = _wait_exit(old, timeout)
    return doc


def answering(client: AgentClient, wanted: int | None, timeout: float) -> int | None:
    """The pid in the agent's status, asked again (a connection the old agent closed is
    replaced) until it is `wanted` or `timeout` is over; None if no agent answered."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid: int | None = client.get("/v1/status")["agent"]["pid"]
        except Unreachable:
            pid = None
        if pid == wanted or (wanted is None and pid is not None):
            return pid
        if time.monotonic() >= deadline:
            return pid
        time.sleep(POLL)


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(POLL)
    return False
