"""Following a rollout from the CLI: print its events as they happen, return its end.

Invariant: returns only once the agent reports the rollout finished (or, when asked,
paused for a person), after printing every event recorded for it up to that moment.
"""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.markup import escape

from changeover.cli.client import AgentClient
from changeover.cli.common import INTERRUPTED, err, out
from changeover.cli.common import environment as selected_environment

WAIT = 2.0  # long-poll seconds per request for new events


def events_after(answer: dict[str, Any]) -> int:
    """The event cursor the agent sent with a started rollout or a command: every event
    of that rollout comes after it."""
    return int(answer["events_after"])


def print_event(event: dict[str, Any]) -> None:
    stamp = time.strftime("%H:%M:%S", time.localtime(event["ts"]))
    out.print(f"[dim]{stamp}[/dim] {escape(event['message'])}", soft_wrap=True)


def follow_rollout(
    client: AgentClient,
    rollout: dict[str, Any],
    after: int,
    *,
    quiet: bool = False,
    pauses: bool = False,
) -> dict[str, Any]:
    """Print the rollout's events until it finishes (or, with `pauses`, until it waits
    for a person); its last document."""
    rid = rollout["id"]
    revisions = {rollout["from_revision"], rollout["to_revision"]} - {None}
    while True:
        current: dict[str, Any] = client.get(f"/v1/rollouts/{rid}")
        for event in client.get(
            "/v1/events", after=after, wait=0 if current["finished_at"] else WAIT
        )["events"]:
            after = int(event["id"])
            mine = event["rollout_id"] == rid or (
                event["rollout_id"] is None and event["revision"] in revisions
            )
            if mine and not quiet:
                print_event(event)
        if current["finished_at"] is not None or (pauses and current["phase"] == "paused"):
            return current


def follow_attached(
    client: AgentClient,
    rollout: dict[str, Any],
    after: int,
    *,
    quiet: bool = False,
    pauses: bool = False,
    environment: str | None = None,
) -> dict[str, Any]:
    """`follow_rollout` for commands a person runs: Ctrl-C detaches, saying that the
    rollout goes on in the agent and how to find it again (exit 130), in the environment
    it runs in (default: the one selected with -E)."""
    try:
        return follow_rollout(client, rollout, after, quiet=quiet, pauses=pauses)
    except KeyboardInterrupt:
        name = environment or selected_environment()
        cmd = f"changeover -E {name}" if name else "changeover"
        err.print(
            f"rollout {rollout['id']} goes on in the agent; follow it with "
            f"`{cmd} events --follow` or `{cmd} status --watch`, steer it with "
            f"`{cmd} promote | pause | abort`",
            soft_wrap=True,
        )
        raise typer.Exit(INTERRUPTED) from None
