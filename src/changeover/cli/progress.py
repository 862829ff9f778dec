"""The progressive-delivery parts of `status`: steps, routing, live traffic, analysis.

Invariant: renders only what the status document holds (docs/cli-json.md); every
user-supplied string goes through `Text`, never rich markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

OUTCOME_STYLE = {"passed": "green", "failed": "red", "inconclusive": "yellow", "error": "magenta"}
RUN_STYLE = {"successful": "green", "failed": "red", "inconclusive": "yellow", "error": "magenta"}


def steps_line(steps: list[str], current: int | None, *, compact: bool = False) -> Text:
    """The canary's steps, the current one highlighted; `compact`: one line, from the step
    before the current one (earlier ones elided), cut with an ellipsis."""
    first = max(0, (current or 0) - 1) if compact else 0
    line = Text("steps: ", no_wrap=compact, overflow="ellipsis")
    if first:
        line.append("... > ", "dim")
    for i, step in enumerate(steps[first:], first):
        if i > first:
            line.append(" > ")
        done = current is not None and i < current
        line.append(f"{i + 1}. {step}", "bold reverse" if i == current else "dim" if done else "")
    if current is not None and current >= len(steps):
        line.append(" > promoting to 100%", "bold reverse")
    return line


def routing_line(traffic: dict[str, Any], tls: bool = False) -> Text:
    """Routes, stickiness, the preview (an https:// one under `[proxy] tls`), warm ones."""
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
        scheme = "https" if tls else "http"
        bits.append(f"preview {scheme}://{traffic['preview_listen']} -> {target}")
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
            ms(v.get("latency_p95")),
            ms(v.get("latency_p99")),
        )
    return table


def analysis_table(runs: list[dict[str, Any]]) -> Table:
    """Each run, its summary, and its latest measurement per metric."""
    table = Table("run", "status", "latest measurements", title="analysis")
    table.title_justify = "left"
    for run in runs:
        status = Text(run["status"], RUN_STYLE.get(run["status"], ""))
        if run.get("summary"):
            status.append(f"\n{run['summary']}")
        cell = measurements_cell(run["measurements"], "\n")
        table.add_row(Text(f"{run['template']} ({run['key']})"), status, cell)
    return table


def analysis_lines(runs: list[dict[str, Any]]) -> Group:
    """One line per run: its status, then its summary once it has one (the verdict says
    more than the last rounds), else its latest measurements; cut with an ellipsis."""
    lines = [Text("analysis", style="table.title")]
    for run in runs:
        line = Text(f"{run['template']} ({run['key']}) ", no_wrap=True, overflow="ellipsis")
        line.append(run["status"], RUN_STYLE.get(run["status"], "")).append(": ")
        line.append_text(
            Text(run["summary"])
            if run.get("summary")
            else measurements_cell(run["measurements"], "; ")
        )
        lines.append(line)
    return Group(*lines)


def measurements_cell(measurements: list[dict[str, Any]], sep: str) -> Text:
    latest: dict[str, dict[str, Any]] = {}
    for m in measurements:
        latest[m["metric"]] = m
    cell = Text()
    for name, m in latest.items():
        if cell.plain:
            cell.append(sep)
        cell.append(f"{name}: ", "bold")
        cell.append(m["message"], OUTCOME_STYLE.get(m["outcome"], ""))
    return cell


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}ms"
