"""`changeover deploy --strategy` (and `verify --strategy`): the one strategy enum, or exit 2."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from changeover.cli.app import app
from changeover.cli.common import BAD_INPUT
from changeover.cli.deploy import parse_strategy
from changeover.spec.strategy import StrategyName


@pytest.mark.parametrize("name", list(StrategyName))
def test_a_known_name_is_the_enum(name: StrategyName) -> None:
    assert parse_strategy(name.value) is name


def test_no_option_leaves_the_spec_to_decide() -> None:
    assert parse_strategy(None) is None


@pytest.mark.parametrize("raw", ["bogus", "Rolling", "blue_green", ""])
def test_an_unknown_name_exits_2_saying_what_is_expected(
    raw: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as exc:
        parse_strategy(raw)
    assert exc.value.exit_code == BAD_INPUT == 2
    err = capsys.readouterr().err
    assert f"error: --strategy: unknown strategy {raw!r}; expected one of rolling, " in err
    assert "blue-green, canary" in err


@pytest.mark.parametrize("command", ["deploy", "verify"])
def test_the_commands_refuse_it_before_reading_the_spec(command: str) -> None:
    args = [command, "--version", "v2", "--strategy", "bogus", "-f", "/nonexistent/svc.toml"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "unknown strategy 'bogus'" in result.output
