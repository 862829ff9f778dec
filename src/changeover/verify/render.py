"""The verify report for a terminal: rich tables built from a `VerifyReport`.

Invariant: rendering only reads the report; user and agent text (event messages, paths)
is shown literally, never interpreted as rich markup.
"""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from changeover.verify.report import VerifyReport
from changeover.verify.timeline import RowSource


def render(report: VerifyReport) -> Group:
    return Group(
        heading(report), totals(report), windows(report), timeline(report), verdict(report)
    )


def heading(report: VerifyReport) -> Text:
    s, r = report.settings, report.rollout
    what = f"re-deploy of {s.version}" if s.redeploy else f"deploy of {s.version}"
    return Text(
        f"{what}: rollout {r['id']} ({r['strategy']}), revision {r['from_revision']} -> "
        f"{r['to_revision']}, {r['phase']}; load {s.rate:g} req/s over {s.connections} "
        f"connections on {s.url} ({', '.join(s.requests)})"
    )


def totals(report: VerifyReport) -> Table:
    load = report.load
    table = Table(
        "sent", "ok", "failed", "failures by kind", "late", "connections", "req/s",
        box=box.SIMPLE_HEAD,
    )  # fmt: skip
    kinds = {k: n for k, n in load.outcomes().items() if n and k != "ok"}
    by_kind = ", ".join(f"{k} {n}" for k, n in kinds.items()) or "-"
    if load.failures_dropped:
        by_kind += f" ({load.failures_dropped} without a record)"
    table.add_row(
        *map(Text, (str(load.sent), str(load.ok), str(load.failed), by_kind)),
        str(load.late),
        str(load.connections_opened),
        f"{load.rps:.0f}",
    )
    return table


def windows(report: VerifyReport) -> Table:
    table = Table(
        "window", "from s", "to s", "reqs", "failed", "p50 ms", "p90 ms", "p99 ms",
        "max ms", title="latency of ok requests; seconds from the rollout's start",
        title_justify="left", box=box.SIMPLE_HEAD,
    )  # fmt: skip
    for w in report.windows:
        start, end = report.spans[w.window]
        failed = Text(str(w.failed), "red" if w.failed else "")
        cells = [_ms(w.p50), _ms(w.p90), _ms(w.p99), _ms(w.max)]
        span = [f"{start:+.2f}", f"{end:+.2f}"]
        table.add_row(w.window.value, *span, str(w.requests), failed, *cells)
    return table


def timeline(report: VerifyReport) -> Table:
    table = Table("t", "", title="timeline", title_justify="left", box=None)
    for row in report.timeline:
        if row.source is RowSource.EVENT:
            table.add_row(_s(row.t), Text(row.text))
            continue
        span = _s(row.t) if row.count == 1 else f"{_s(row.t)} .. {_s(row.until)}"
        table.add_row(span, Text(row.text, "red"))
    return table


def verdict(report: VerifyReport) -> Text:
    decision = report.decision
    colour = "green" if decision.verdict.exit_code == 0 else "red"
    text = Text(f"verdict: {decision.verdict.value}", f"bold {colour}")
    for reason in decision.reasons:
        text.append(f"\n  {reason}")
    return text


def _s(seconds: float) -> str:
    return f"{seconds:+.3f}s"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f}"
