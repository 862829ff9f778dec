"""The progressive-delivery part of `status`: steps, routing, live traffic, analysis.

Invariant: renders only what the status document holds (docs/cli-json.md); every
user-supplied string goes through `Text`, never rich markup.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

OUTCOME_STYLE = {"passed": "green", "failed": "red", "inconclusive": "yellow", "error": "magenta"}
RUN_STYLE = {"successful": "green", "failed": "red", "inconclusive": "yellow", "error": "magenta"}


def progress_parts(doc: dict[str, Any]) -> list[Any]:
    parts: list[Any] = []
    progress = doc.get("progress") or {}
    steps, current = progress.get("steps") or [], progress.get("step")
    active = bool(doc.get("rollout")) and doc["rollout"]["finished_at"] is None
    if steps:
        parts.append(steps_line(steps, current if active else None))
    routing = routing_line(doc.get("traffic") or {})
    if routing.plain:
        parts.append(routing)
    if doc.get("live"):
        parts.append(live_table(doc["live"]))
    if progress.get("analysis"):
        parts.append(analysis_table(progress["analysis"]))
    return parts


def steps_line(steps: list[str], current: int | None) -> Text:
    line = Text("steps: ")
    for i, step in enumerate(steps):
        if i:
            line.append(" > ")
        style = (
            "bold reverse"
            if i == current
            else ("dim" if current is not None and i < current else "")
        )
        line.append(f"{i + 1}. {step}", style)
    if current is not None and current >= len(steps):
        line.append(" > promoting to 100%", "bold reverse")
    return line


def routing_line(traffic: dict[str, Any]) -> Text:
    bits = []
    route = traffic.get("header_route")
    if route:
        match = next((f"{k} {route[k]!r}" for k in ("value", "prefix", "regex") if k in route), "")
        bits.append(f"header {route['header']} {match} -> revision {route['revision']}")
    if traffic.get("sticky"):
        bits.append(f"sticky users by {traffic['sticky']}")
    if traffic.get("preview_listen"):
        rev = traffic.get("preview_revision")
        target = f"revision {rev}" if rev is not None else "no revision"
        bits.append(f"preview http://{traffic['preview_listen']} -> {target}")
    for rev, left in (traffic.get("warm") or {}).items():
        bits.append(f"revision {rev} kept warm for {max(left, 0):.0f}s (undo switches back)")
    return Text("; ".join(bits))


def live_table(live: dict[str, dict[str, Any]]) -> Table:
    window = next(iter(live.values()), {}).get("window") or 0
    table = Table(
        "rev",
        "req/s",
        "success",
        "p95",
        "p99",
        title=f"traffic, last {window:.0f}s",
        title_justify="left",
        box=None,
    )
    for rev, v in sorted(live.items(), key=lambda kv: int(kv[0])):
        rate, ok = v.get("request_rate"), v.get("success_rate")
        table.add_row(
            rev,
            "-" if rate is None else f"{rate:.1f}",
            "-" if ok is None else f"{ok * 100:.2f}%",
            _ms(v.get("latency_p95")),
            _ms(v.get("latency_p99")),
        )
    return table


def analysis_table(runs: list[dict[str, Any]]) -> Table:
    table = Table("run", "status", "latest measurements", title="analysis", title_justify="left")
    for run in runs:
        latest: dict[str, dict[str, Any]] = {}
        for m in run["measurements"]:
            latest[m["metric"]] = m
        cell = Text()
        for name, m in latest.items():
            if cell.plain:
                cell.append("\n")
            cell.append(f"{name}: ", "bold")
            cell.append(m["message"], OUTCOME_STYLE.get(m["outcome"], ""))
        status = Text(run["status"], RUN_STYLE.get(run["status"], ""))
        if run.get("summary"):
            status.append(f"\n{run['summary']}")
        table.add_row(Text(f"{run['template']} ({run['key']})"), status, cell)
    return table


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}ms"
