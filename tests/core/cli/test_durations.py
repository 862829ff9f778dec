"""One grammar for durations on the command line: the spec's ("10s", "2m"), or seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from changeover.cli.app import app
from changeover.cli.common import duration


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("10s", 10.0), ("250ms", 0.25), ("2m", 120.0), ("1m30s", 90.0), ("3", 3.0), ("0.5", 0.5)],
)
def test_durations_read_the_spec_grammar_and_plain_seconds(raw: str, seconds: float) -> None:
    assert duration(raw) == seconds


@pytest.mark.parametrize("raw", ["5x", "ten seconds", "-1", "inf", "nan", ""])
def test_anything_else_is_refused_saying_what_is_expected(raw: str) -> None:
    with pytest.raises(typer.BadParameter, match="duration"):
        duration(raw)


@pytest.mark.parametrize(
    "args",
    [
        ["down", "--timeout", "5x"],
        ["reload", "--timeout", "soon"],
        ["verify", "--max-wait", "a while"],
        ["verify", "--warmup", "2 s"],
    ],
)
def test_commands_refuse_a_bad_duration_with_exit_2(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*args, "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "a duration with a unit" in result.output


def test_a_left_out_duration_takes_its_default(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["down", "--state-dir", str(tmp_path)])
    assert (result.exit_code, result.output) == (
        0,
        f"no agent is running for {tmp_path}: nothing to stop\n",
    )


def test_help_shows_defaults_in_the_same_grammar() -> None:
    result = CliRunner().invoke(app, ["down", "--help"], env={"COLUMNS": "200"})
    assert "--timeout DURATION" in result.output
    assert "5m" in result.output
