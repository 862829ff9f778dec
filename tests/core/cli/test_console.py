"""The CLI's consoles decide their width at every print: pipes are never hard-wrapped."""

from __future__ import annotations

import io

import pytest

from changeover.cli.console import LiveConsole

LINE = "word " * 60  # 300 columns


def printed(console: LiveConsole) -> list[str]:
    console.print(LINE)
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue().splitlines()


def test_output_to_a_pipe_is_one_line_however_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert len(printed(LiveConsole(file=io.StringIO()))) == 1


def test_columns_set_after_the_console_was_made_still_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    console = LiveConsole(file=io.StringIO())
    monkeypatch.setenv("COLUMNS", "40")
    lines = printed(console)
    assert len(lines) > 1
    assert max(len(line.rstrip()) for line in lines) <= 40


def test_a_terminal_wraps_at_its_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    console = LiveConsole(file=io.StringIO(), force_terminal=True)  # rich fixes 200 here ...
    monkeypatch.setenv("COLUMNS", "60")  # ... and the terminal is 60 wide when it prints
    lines = printed(console)
    assert max(len(line.rstrip()) for line in lines) <= 60
