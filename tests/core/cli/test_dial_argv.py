"""The command lines `changeover dial` serves without loading the CLI: exactly the ones
the typer app would read the same way; anything else is left to the typer app."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from changeover.cli.app import app
from changeover.cli.splice import DialArgs, parse_argv

SPEC = Path("changeover.toml")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["dial"], DialArgs(None, SPEC, None)),
        (["-E", "prod", "dial"], DialArgs("prod", SPEC, None)),
        (["-Eprod", "dial"], DialArgs("prod", SPEC, None)),
        (["--environment", "prod", "dial"], DialArgs("prod", SPEC, None)),
        (["--environment=prod", "dial"], DialArgs("prod", SPEC, None)),
        (["dial", "-f", "a.toml"], DialArgs(None, Path("a.toml"), None)),
        (["dial", "-fa.toml", "--state-dir", "/s"], DialArgs(None, Path("a.toml"), "/s")),
        (["dial", "--file=a.toml", "--state-dir=/s"], DialArgs(None, Path("a.toml"), "/s")),
        (["-E", "a", "-E", "b", "dial"], DialArgs("b", SPEC, None)),
    ],
)
def test_the_usual_command_lines(argv: list[str], expected: DialArgs) -> None:
    assert parse_argv(argv, {}) == expected


def test_the_environment_variable_selects_unless_an_option_does() -> None:
    environ = {"CHANGEOVER_ENVIRONMENT": "dev"}
    assert parse_argv(["dial"], environ) == DialArgs("dev", SPEC, None)
    assert parse_argv(["-E", "prod", "dial"], environ) == DialArgs("prod", SPEC, None)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["status"],
        ["-E", "prod", "status"],
        ["dial", "--help"],
        ["--help", "dial"],
        ["dial", "extra"],
        ["dial", "-f"],
        ["-E"],
        ["-E", "prod"],
        ["--version", "dial"],
        ["dial", "--json"],
    ],
)
def test_anything_else_goes_to_the_typer_app(argv: list[str]) -> None:
    assert parse_argv(argv, {}) is None


def test_the_typer_app_knows_dial_too() -> None:
    result = CliRunner().invoke(app, ["dial", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Connect stdin and stdout to the control socket" in result.output
    assert "--state-dir" in result.output
