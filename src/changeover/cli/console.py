"""The CLI's consoles: the width is decided at every print, never once at import.

Invariant: output to a pipe or a file is never hard-wrapped (unless `COLUMNS` says a
width); on a terminal, lines fit the terminal as it is now, so a resized window or a
test runner that swaps stdout gets what it asks for.
"""

from __future__ import annotations

import os

from rich.console import Console, ConsoleDimensions

UNWRAPPED = 10_000  # columns for output that is not a terminal: wide enough to never wrap


class LiveConsole(Console):
    @property
    def size(self) -> ConsoleDimensions:
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return ConsoleDimensions(int(columns), super().size.height)
        if not self.is_terminal:
            return ConsoleDimensions(UNWRAPPED, super().size.height)
        self._width = None  # what rich fixed at construction; the terminal's size wins
        return super().size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size
