"""`changeover status [--watch] [--json]` and `changeover history [--json]`."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from changeover.cli.client import AgentClient
from changeover.cli.common import DEFAULT_SPEC, Json, SpecFile, StateDir, out, plain, state_paths
from changeover.cli.status_view import StatusView

REFRESH = 0.5  # seconds between status refreshes in --watch
ShowAll = Annotated[
    bool,
    typer.Option(
        "--all",
        "-a",
        help="Every replica and revision, exited and idle ones too, and nothing trimmed.",
    ),
]


def status(
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C.")] = False,
    show_all: ShowAll = False,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """The rollout (why it is paused, what continues it), live replicas, revisions, then
    analysis, live traffic and recent events as the terminal allows."""
    with AgentClient(state_paths(state_dir, file)) as client:
        if json:
            out.print_json(data=client.get("/v1/status"))
        elif not watch:
            out.print(view(client, show_all))
        else:
            watch_status(client, show_all)


def view(client: AgentClient, show_all: bool) -> StatusView:
    """The status view, fitted to the terminal; output that is not one is not trimmed."""
    return StatusView(client.get("/v1/status"), show_all=show_all, fit=out.is_terminal)


def watch_status(client: AgentClient, show_all: bool) -> None:
    """A live view on a terminal; a fresh snapshot per refresh when piped."""
    try:
        if not out.is_terminal:
            while True:
                snapshot = view(client, show_all)
                # a short line, not a rule: output that is not a terminal is never wrapped,
                # so a rule would be as wide as the console's unwrapped width
                out.print(Text(f"--- {time.strftime('%H:%M:%S')} ---", style="dim"))
                out.print(snapshot)
                out.file.flush()
                time.sleep(REFRESH)
        with Live(view(client, show_all), console=out, auto_refresh=False) as live:
            while True:
                time.sleep(REFRESH)
                live.update(view(client, show_all), refresh=True)
    except KeyboardInterrupt:
        pass


def history(
    diff: Annotated[
        tuple[int, int] | None,
        typer.Option("--diff", metavar="N M", help="Every difference from revision N to M."),
    ] = None,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Revisions (newest first) with what changed from the one before, and past rollouts."""
    with AgentClient(state_paths(state_dir, file)) as client:
        if diff is not None:
            doc = client.get("/v1/diff", **{"from": diff[0], "to": diff[1]})
        else:
            doc = client.get("/v1/history")
    if json:
        out.print_json(data=doc)
    elif diff is not None:
        print_diff(doc)
    else:
        print_history(doc)


def print_diff(doc: dict[str, Any]) -> None:
    out.print(f"revision {doc['from']} -> {doc['to']}:", markup=False)
    for change in doc["changes"]:
        out.print(f"  {change['text']}", markup=False)
    if not doc["changes"]:
        out.print("  no differences", markup=False)


def print_history(doc: dict[str, Any]) -> None:
    table = Table(
        "rev",
        "version",
        "status",
        "replicas",
        "created",
        "schema",
        "changes",
        title="revisions",
        title_justify="left",
    )
    for r in doc["revisions"]:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created_at"]))
        changed = "; ".join(r["changes"]) if r["changes"] else "-"
        schema = r["schema"]["state"] if r.get("schema") else "-"  # its migration step
        table.add_row(
            *plain(r["revision"], r["version"], r["status"], r["replicas"], created, schema,
                   changed)
        )  # fmt: skip
    rollouts = Table(
        "id", "kind", "from", "to", "phase", "reason", title="rollouts", title_justify="left"
    )
    for r in doc["rollouts"]:
        rollouts.add_row(
            *plain(
                r["id"],
                r["kind"],
                r["from_revision"] or "-",
                r["to_revision"],
                r["phase"],
                r["reason"],
            )
        )
    out.print(table)
    out.print(rollouts)
