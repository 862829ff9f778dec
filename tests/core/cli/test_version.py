"""`changeover --version` prints the installed version and exits 0, before anything else."""

from __future__ import annotations

from typer.testing import CliRunner

from changeover import __version__
from changeover.cli.app import app


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"changeover {__version__}\n"


def test_version_wins_over_a_command_and_needs_no_spec() -> None:
    result = CliRunner().invoke(app, ["--version", "status", "-f", "/no/such/file.toml"])
    assert (result.exit_code, result.stdout) == (0, f"changeover {__version__}\n")
