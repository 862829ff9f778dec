"""The `status` view: the rollout first, then what runs, then the rest as the screen allows.

Invariant: the view renders the status document (docs/cli-json.md) and never changes
it: hiding exited replicas and idle revisions (no live replica, not stable, not what
the rollout line speaks of) and trimming to the terminal happen here, so `--json` stays complete.
The essentials (the lead, live replicas, the revisions that matter) are always shown
whole; analysis, live traffic and recent events follow, each trimmed oldest first to the
lines left, and a last line says what was not shown. `show_all` shows everything, and
`fit=False` (output that is not a terminal) trims nothing but still hides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Column, Table
from rich.text import Text

from changeover.cli.common import plain
from changeover.cli.fit import Fitted, Part, fit, lines
from changeover.cli.lead import lead_parts
from changeover.cli.progress import (
    analysis_lines,
    analysis_table,
    live_table,
    ms,
    routing_line,
    steps_line,
)

STATE_STYLE = {
    "ready": "green",
    "starting": "yellow",
    "not-ready": "yellow",
    "backoff": "red",
    "draining": "cyan",
    "stopping": "cyan",
    "exited": "dim",
}
EXITED = "exited"


@dataclass(frozen=True)
class StatusView:
    doc: dict[str, Any]
    show_all: bool = False
    fit: bool = True  # trim to the console's height; False: output that is not a terminal

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        shown = Shown.of(self.doc, self.show_all)
        width = None if self.show_all else options.max_width
        essentials = Group(*essential_parts(self.doc, shown, width=width))
        parts = optional_parts(self.doc, shown, compact=not self.show_all)
        yield essentials
        if self.show_all or not self.fit:
            fitted = Fitted([p.render(p.rows) for p in parts if p.rows])
        else:
            room = options.max_height - 1 - lines(console, options, essentials)  # 1: the prompt
            fitted = fit_with_note(console, options, parts, room, shown.hidden)
        yield from fitted.shown
        note = left_out_note({**shown.hidden, **fitted.left_out})
        if note is not None:
            yield note


@dataclass(frozen=True)
class Shown:
    """The replicas and revisions the view lists, and how many of each it hides."""

    replicas: list[dict[str, Any]]
    revisions: list[dict[str, Any]]
    hidden: dict[str, int]  # noun -> count: {"exited replica": 9, "idle revision": 4}

    @classmethod
    def of(cls, doc: dict[str, Any], show_all: bool) -> Shown:
        if show_all:
            return cls(doc["replicas"], doc["revisions"], {})
        replicas = [r for r in doc["replicas"] if r["state"] != EXITED]
        busy = busy_revisions(doc, replicas)
        revisions = [r for r in doc["revisions"] if r["revision"] in busy]
        hidden = {
            "exited replica": len(doc["replicas"]) - len(replicas),
            "idle revision": len(doc["revisions"]) - len(revisions),
        }
        return cls(replicas, revisions, hidden)


def busy_revisions(doc: dict[str, Any], live: list[dict[str, Any]]) -> set[int]:
    """Revisions with a live replica, the stable one, both of an active rollout and the
    target of a finished one (what the rollout line speaks of)."""
    busy = {r["revision"] for r in live} | {doc["stable_revision"]}
    rollout = doc.get("rollout")
    if rollout:
        busy.add(rollout["to_revision"])
        if rollout["finished_at"] is None:
            busy.add(rollout["from_revision"])
    return {rev for rev in busy if rev is not None}


def essential_parts(
    doc: dict[str, Any], shown: Shown, *, width: int | None
) -> list[RenderableType]:
    """The lead, the steps and routing, live replicas and revisions; `width`: compact, each
    replica on one line of that width (None: whole, wrapped)."""
    parts: list[RenderableType] = [*lead_parts(doc)]
    progress = doc.get("progress") or {}
    rollout = doc.get("rollout") or {}
    if progress.get("steps"):
        active = rollout.get("finished_at") is None
        current = progress.get("step") if active else None
        parts.append(steps_line(progress["steps"], current, compact=width is not None))
    tls = bool((doc.get("agent") or {}).get("tls"))  # both listeners speak it
    routing = routing_line(doc.get("traffic") or {}, tls)
    if routing.plain:
        parts.append(routing)
    parts.append(replicas_table(shown.replicas, width=width))
    parts.append(revisions_table(shown.revisions))
    return parts


def optional_parts(doc: dict[str, Any], shown: Shown, *, compact: bool) -> list[Part]:
    """Analysis runs, live traffic per revision and recent events, each oldest first."""
    runs = (doc.get("progress") or {}).get("analysis") or []
    listed = {str(r["revision"]) for r in shown.revisions}
    live = sorted(
        ((rev, v) for rev, v in (doc.get("live") or {}).items() if rev in listed),
        key=lambda kv: int(kv[0]),
    )
    events = doc["events"]
    analysis = analysis_lines if compact else analysis_table
    return [
        Part("analysis run", len(runs), lambda n: analysis(runs[-n:])),
        Part("live traffic row", len(live), lambda n: live_table(dict(live[-n:]))),
        Part("event", len(events), lambda n: events_part(events[-n:], compact=compact)),
    ]


def fit_with_note(
    console: Console,
    options: ConsoleOptions,
    parts: list[Part],
    room: int,
    hidden: dict[str, int],
) -> Fitted:
    """The optional parts in `room` lines, less the lines of the note on what is left out
    (which grows with what the parts leave out, so fit again until it stops growing)."""
    note_lines = 0
    while True:
        fitted = fit(console, options, parts, room - note_lines)
        note = left_out_note({**hidden, **fitted.left_out})
        needed = 0 if note is None else lines(console, options, note)
        if needed <= note_lines:
            return fitted
        note_lines = needed


def left_out_note(counts: dict[str, int]) -> Text | None:
    said = [f"{n} {noun}{'' if n == 1 else 's'}" for noun, n in counts.items() if n]
    if not said:
        return None
    note = Text(f"hidden: {', '.join(said)} (", style="dim")
    return note.append("--all", "bold").append(" shows them)")


REPLICA_COLUMNS = ("replica", "version", "state", "pid", "port", "restarts")


def replicas_table(replicas: list[dict[str, Any]], *, width: int | None) -> Table:
    """One row per replica; `width`: each on one line, its last error cut to what is left."""
    rows = [
        plain(r["id"], r["version"], r["state"], r["pid"] or "-", r["port"], r["restarts"])
        for r in replicas
    ]
    error = Column("last error")
    if width is not None:
        error = Column("last error", no_wrap=True, overflow="ellipsis")
        error.max_width = max(10, width - _table_width(REPLICA_COLUMNS, rows) - 2)  # 2: its pad
    table = Table(*REPLICA_COLUMNS, error, box=None, header_style="bold")
    for r, cells in zip(replicas, rows, strict=True):
        cells[2].stylize(STATE_STYLE.get(r["state"], ""))
        table.add_row(*cells, Text(r["last_error"]))
    return table


def _table_width(headers: tuple[str, ...], rows: list[list[Text]]) -> int:
    """Columns of a borderless table of these cells, with rich's padding of 1 each side."""
    widths = [len(h) for h in headers]
    for cells in rows:
        widths = [max(w, cell.cell_len) for w, cell in zip(widths, cells, strict=True)]
    return sum(widths) + 2 * len(widths)


def revisions_table(revisions: list[dict[str, Any]]) -> Table:
    # the schema column only for a service with [migrations]: a step ran for a revision
    schema = any(rev.get("schema") for rev in revisions)
    headers = ("revision", "version", "status", "ready", "requests", "2xx", "5xx", "p50", "p99")
    table = Table(*headers, *(("schema",) if schema else ()), box=None, header_style="bold")
    for rev in revisions:
        m = rev.get("metrics") or {}
        st = m.get("status", {})
        lat = m.get("latency", {}) if m.get("requests") else {}  # no requests: no latency
        table.add_row(
            *plain(
                rev["revision"],
                rev["version"],
                rev["status"],
                f"{rev['ready']}/{rev['replicas']}",
                m.get("requests", 0),
                st.get("2xx", 0),
                st.get("5xx", 0),
                ms(lat.get("p50")),
                ms(lat.get("p99")),
                *((rev["schema"]["state"] if rev.get("schema") else "-",) if schema else ()),
            )
        )
    return table


def events_part(events: list[dict[str, Any]], *, compact: bool) -> RenderableType:
    """Time and message; `compact`: one line per event, cut with an ellipsis."""
    if compact:
        said = [Text("recent events", style="table.title")]
        for event in events:
            line = Text(f"{_clock(event['ts'])}  ", no_wrap=True, overflow="ellipsis")
            said.append(line.append(first_line(event["message"])))
        return Group(*said)
    table = Table(title="recent events", title_justify="left", box=None, show_header=False)
    for event in events:
        table.add_row(*plain(_clock(event["ts"]), event["message"]))
    return table


def first_line(message: str) -> str:
    """A multi-line event (a replica's output before it failed) folded to its heading."""
    first, *rest = message.split("\n")
    return f"{first} (+{len(rest)} lines: `changeover events`)" if rest else first


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))
