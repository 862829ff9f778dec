"""`changeover events [--follow] [--lines N] [--json]`: the agent's event stream.

Invariant: every event is printed once, in id order; `--follow` long-polls the agent
from the last id seen, so nothing recorded while it waits is skipped, and Ctrl-C ends it
with exit 0. It re-attaches to a rollout left running by `deploy --no-wait` or Ctrl-C.
"""

from __future__ import annotations

import json as jsonlib
from typing import Annotated, Any

import typer

from changeover.cli.client import AgentClient
from changeover.cli.common import DEFAULT_SPEC, Json, SpecFile, StateDir, out, state_paths
from changeover.cli.follow import print_event

WAIT = 20.0  # seconds per long-poll while following


def events(
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Keep printing new events until Ctrl-C.")
    ] = False,
    lines: Annotated[
        int,
        typer.Option(
            "--lines", "-n", min=0, metavar="N", help="How many recent events to show first."
        ),
    ] = 20,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Recent events of the agent (rollouts, replicas, traffic); --follow for new ones."""
    with AgentClient(state_paths(state_dir, file), timeout=WAIT + 10.0) as client:
        found = client.get("/v1/events", last=lines)["events"]
        try:
            after = _show(found, json, after=0)
            while follow:
                found = client.get("/v1/events", after=after, wait=WAIT)["events"]
                after = _show(found, json, after)
        except KeyboardInterrupt:
            pass


def _show(found: list[dict[str, Any]], json: bool, after: int) -> int:
    """Print the events; the id to continue after."""
    for event in found:
        if json:  # one JSON object per line, so a pipe can read them as they come
            out.file.write(jsonlib.dumps(event) + "\n")
            out.file.flush()
        else:
            print_event(event)
        after = max(after, int(event["id"]))
    return after
