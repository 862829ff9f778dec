"""`changeover promote | abort | pause | resume | retry`: steer the active rollout.

Invariant: these commands only send the operator's intent; the agent's strategy decides
what it means in the rollout's current state, and a command that does not apply is
refused by the agent with the reason (exit 2), never half-applied.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from changeover.cli.client import AgentClient
from changeover.cli.common import (
    DEFAULT_SPEC,
    FAILED,
    OK,
    Json,
    SpecFile,
    StateDir,
    out,
    state_paths,
)
from changeover.cli.deploy import report, run_rollout
from changeover.cli.follow import events_after, follow_attached

NoWait = Annotated[bool, typer.Option("--no-wait", help="Return once the agent accepted it.")]


def promote(
    full: Annotated[
        bool, typer.Option("--full", help="Skip every remaining step and analysis.")
    ] = False,
    no_wait: NoWait = False,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Move the rollout past its current step or pause (--full: straight to 100%), then
    follow it until it ends or pauses again for a person."""
    with AgentClient(state_paths(state_dir, file)) as client:
        answer = client.post("/v1/promote?full=1" if full else "/v1/promote")
        rollout = answer["rollout"]
        if no_wait or rollout is None:
            _print(answer, json)
            return
        if not json:
            out.print(escape(answer["message"]), soft_wrap=True)
        final = follow_attached(client, rollout, events_after(answer), quiet=json, pauses=True)
    if json:
        out.print_json(data=final)
    elif final["phase"] == "paused":
        paused = final.get("paused") or {}
        nexts = " or ".join(f"`changeover {c}`" for c in paused.get("continue") or ["promote"])
        why = f" ({paused['message']})" if paused.get("message") else ""
        out.print(
            f"rollout {final['id']} is paused{why}: {nexts} continues it, "
            "`changeover abort` rolls back",
            markup=False,
        )
    else:
        report(final)
    raise typer.Exit(FAILED if final["phase"] in ("failed", "aborted") else OK)


def abort(
    no_wait: NoWait = False,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Send all traffic back to the stable revision now and scale the new one down."""
    with AgentClient(state_paths(state_dir, file)) as client:
        answer = client.post("/v1/abort")
        rollout = answer["rollout"]
        if no_wait or rollout is None:
            _print(answer, json)
            return
        final = follow_attached(client, rollout, events_after(answer), quiet=json)
        if json:
            out.print_json(data=final)
        else:
            out.print(f"rollout {final['id']} {final['phase']}: {escape(final['reason'])}")


def pause(file: SpecFile = DEFAULT_SPEC, state_dir: StateDir = None, json: Json = False) -> None:
    """Hold the rollout where it is (traffic and replicas stay as they are)."""
    _send("/v1/pause", file, state_dir, json)


def resume(file: SpecFile = DEFAULT_SPEC, state_dir: StateDir = None, json: Json = False) -> None:
    """Continue a paused rollout."""
    _send("/v1/resume", file, state_dir, json)


def retry(
    no_wait: NoWait = False,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Start the last aborted or failed deploy again, with the same revision and strategy."""
    with AgentClient(state_paths(state_dir, file)) as client:
        run_rollout(client, "/v1/retry", {}, no_wait=no_wait, json=json)


def _send(path: str, file: Any, state_dir: Any, json: bool) -> None:
    with AgentClient(state_paths(state_dir, file)) as client:
        _print(client.post(path), json)
    raise typer.Exit(OK)


def _print(answer: dict[str, Any], json: bool) -> None:
    if json:
        out.print_json(data=answer)
    else:
        out.print(escape(answer["message"]), soft_wrap=True)
