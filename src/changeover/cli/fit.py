"""Fitting optional parts of a view into the lines a terminal has left.

Invariant: each optional part, in order, gets at most the lines left after everything
before it; it loses its oldest rows first and is left out only when not even one row
fits. Lines are counted by rendering at the width the view is given, so wrapped lines
count too, and every row left out is counted so the view can say what it did not show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich.console import Console, ConsoleOptions, RenderableType


@dataclass(frozen=True)
class Part:
    """An optional part of `rows` rows; `render(n)` shows its newest `n` (n >= 1)."""

    name: str  # how the view names what it left out: "events"
    rows: int
    render: Callable[[int], RenderableType]


@dataclass(frozen=True)
class Fitted:
    shown: list[RenderableType] = field(default_factory=list)
    lines: int = 0  # lines the shown parts take
    left_out: dict[str, int] = field(default_factory=dict)  # name -> rows not shown


def lines(console: Console, options: ConsoleOptions, renderable: RenderableType) -> int:
    """Lines `renderable` takes at the width of `options`, however tall the screen."""
    return len(console.render_lines(renderable, options.update(height=None), pad=False))


def fit(console: Console, options: ConsoleOptions, parts: Sequence[Part], room: int) -> Fitted:
    """As many rows of each part, in order, as fit in `room` lines."""
    shown: list[RenderableType] = []
    used, left_out = 0, {}
    for part in parts:
        rows, taken = _most_rows(console, options, part, room - used)
        if rows:
            shown.append(part.render(rows))
            used += taken
        if rows < part.rows:
            left_out[part.name] = part.rows - rows
    return Fitted(shown, used, left_out)


def _most_rows(console: Console, options: ConsoleOptions, part: Part, room: int) -> tuple[int, int]:
    """The most rows of `part` that fit in `room` lines, and the lines they take."""
    rows = part.rows
    while rows > 0:
        taken = lines(console, options, part.render(rows))
        if taken <= room:
            return rows, taken
        rows -= min(rows, max(1, taken - room))  # a row takes at least one line
    return 0, 0
