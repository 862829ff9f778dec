"""`changeover status [--watch] [--json]` and `changeover history [--json]`."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from changeover.cli.client import AgentClient
from changeover.cli.common import DEFAULT_SPEC, Json, SpecFile, StateDir, out, plain, state_paths
from changeover.cli.progress import progress_parts

REFRESH = 0.5  # seconds between status refreshes in --watch
STATE_STYLE = {
    "ready": "green",
    "starting": "yellow",
    "not-ready": "yellow",
    "backoff": "red",
    "draining": "cyan",
    "stopping": "cyan",
    "exited": "dim",
}


def status(
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C.")] = False,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Revisions, replicas and their states, the rollout phase and recent events."""
    with AgentClient(state_paths(state_dir, file)) as client:
        if json:
            out.print_json(data=client.get("/v1/status"))
        elif not watch:
            out.print(render(client.get("/v1/status")))
        else:
            watch_status(client)


def watch_status(client: AgentClient) -> None:
    """A live view on a terminal; a fresh snapshot per refresh when piped."""
    try:
        if not out.is_terminal:
            while True:
                out.rule(time.strftime("%H:%M:%S"))
                out.print(render(client.get("/v1/status")))
                out.file.flush()
                time.sleep(REFRESH)
        with Live(render(client.get("/v1/status")), console=out, auto_refresh=False) as live:
            while True:
                time.sleep(REFRESH)
                live.update(render(client.get("/v1/status")), refresh=True)
    except KeyboardInterrupt:
        pass


def render(doc: dict[str, Any]) -> Group:
    agent = doc["agent"]
    head = Text.assemble(
        (doc["service"], "bold"),
        f"  http://{agent['listen']}  ",
        stable_label(doc["stable_revision"]),
    )
    parts: list[Any] = [head]
    if doc["rollout"]:
        r = doc["rollout"]
        line = (
            f"rollout {r['id']} ({r['kind']}, {r['strategy']}): revision "
            f"{r['from_revision']} -> {r['to_revision']}: {r['phase']}"
        )
        parts.append(Text(line + (f" ({r['reason']})" if r["reason"] else "")))
    parts.append(Text(traffic_line(doc)))
    parts += progress_parts(doc)
    parts += [revisions_table(doc["revisions"]), replicas_table(doc["replicas"])]
    events = Table("time", "event", title="recent events", title_justify="left", box=None)
    for event in doc["events"]:
        stamp = time.strftime("%H:%M:%S", time.localtime(event["ts"]))
        events.add_row(*plain(stamp, event["message"]))
    parts.append(events)
    return Group(*parts)


def revisions_table(revisions: list[dict[str, Any]]) -> Table:
    table = Table(
        "rev",
        "version",
        "status",
        "ready",
        "requests",
        "2xx",
        "5xx",
        "p50",
        "p99",
        title="revisions",
        title_justify="left",
    )
    for rev in revisions:
        m = rev.get("metrics") or {}
        st = m.get("status", {})
        lat = m.get("latency", {}) if m.get("requests") else {}  # no requests: no latency
        table.add_row(
            *plain(
                str(rev["revision"]),
                rev["version"],
                rev["status"],
                f"{rev['ready']}/{rev['replicas']}",
                str(m.get("requests", 0)),
                str(st.get("2xx", 0)),
                str(st.get("5xx", 0)),
                _ms(lat.get("p50")),
                _ms(lat.get("p99")),
            )
        )
    return table


def replicas_table(replicas: list[dict[str, Any]]) -> Table:
    table = Table(
        "replica",
        "version",
        "state",
        "pid",
        "port",
        "restarts",
        "last error",
        title="replicas",
        title_justify="left",
    )
    for r in replicas:
        style = STATE_STYLE.get(r["state"], "")
        table.add_row(
            *plain(
                r["id"],
                r["version"],
                Text(r["state"], style),
                str(r["pid"] or "-"),
                str(r["port"]),
                str(r["restarts"]),
                r["last_error"],
            )
        )
    return table


def traffic_line(doc: dict[str, Any]) -> str:
    weights = doc.get("weights")
    if weights:
        shares = ", ".join(f"revision {rev}: {w}" for rev, w in sorted(weights.items()))
        return f"traffic weights: {shares}"
    ready = sum(1 for r in doc["replicas"] if r["state"] == "ready")
    return f"traffic: spread over {ready} ready replica(s), least in-flight first"


def stable_label(revision: int | None) -> tuple[str, str]:
    if revision is None:
        return ("no stable revision yet", "yellow")
    return (f"stable revision {revision}", "green")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}ms"


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
        "changes",
        title="revisions",
        title_justify="left",
    )
    for r in doc["revisions"]:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created_at"]))
        changed = "; ".join(r["changes"]) if r["changes"] else "-"
        table.add_row(
            *plain(r["revision"], r["version"], r["status"], r["replicas"], created, changed)
        )
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
