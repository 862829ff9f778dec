"""Every command's --help names what an option takes (FILE, DURATION, the choices), never
a Python type, and the command list fits 80 columns without cut descriptions."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from changeover.cli.app import app


def names() -> list[list[str]]:
    """Every command (typer names them after their function), and some flag commands."""
    plain = [c.callback.__name__ for c in app.registered_commands if c.callback]
    return [[name] for name in plain] + [["flags", s] for s in ("list", "set", "rollout")]


@pytest.mark.parametrize("command", names(), ids=" ".join)
def test_options_name_what_they_take_not_a_python_type(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    options = [line for line in result.output.splitlines() if line.lstrip().startswith("-")]
    typed = [line for line in options if re.search(r"<(str|int|float|path|list\[)", line)]
    assert typed == []


def test_the_command_list_fits_80_columns_uncut() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "80"})
    listed = result.output[result.output.index("Commands:") :].splitlines()[1:]
    assert listed
    assert all(len(line) <= 80 and not line.rstrip().endswith("...") for line in listed)
