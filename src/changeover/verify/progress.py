"""The progress display of a verify run: one bar per stage, with live request counts.

Invariant: the display only shows what it is given (stage, rollout phase, latest event,
counts of a load snapshot, time left before `--max-wait`); it never decides anything and
can be disabled for `--json`.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from changeover.loadgen import Report

DESCRIPTION_WIDTH = 60


def new_progress(console: Console, *, disable: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[counts]}"),
        console=console,
        disable=disable,
    )


def counts(snap: Report) -> str:
    """Sent and failed so far (failed in red once any request failed)."""
    colour = "red" if snap.failed else "green"
    return f"sent {snap.sent}  [{colour}]failed {snap.failed}[/{colour}]"


def rollout_line(rollout_id: int, phase: str, latest: str | None) -> str:
    """`rollout 3 progressing: r3-1 ready`, cut to fit beside the bar, markup escaped."""
    text = f"rollout {rollout_id} {phase}" + (f": {latest}" if latest else "")
    if len(text) > DESCRIPTION_WIDTH:
        text = text[: DESCRIPTION_WIDTH - 1] + "…"
    return escape(text)


def paused_line(rollout_id: int, max_wait: float | None, elapsed: float) -> str:
    """What a human watching a paused rollout can do (never cut: it is the point)."""
    text = f"rollout {rollout_id} paused: waiting for `changeover promote`"
    if max_wait is None:
        return text + " (or use --max-wait)"
    return text + f" or --max-wait (abort in {max(0.0, max_wait - elapsed):.0f}s)"
