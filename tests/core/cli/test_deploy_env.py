"""`changeover deploy --env KEY=VALUE` parsing."""

from __future__ import annotations

import pytest
import typer

from changeover.cli.common import BAD_INPUT
from changeover.cli.deploy import parse_env


def test_pairs_become_a_mapping() -> None:
    assert parse_env([]) == {}
    assert parse_env(["A=1", "URL=http://x/?a=b&c=d", "EMPTY=", "SPACED= x "]) == {
        "A": "1",
        "URL": "http://x/?a=b&c=d",  # split at the first "=" only
        "EMPTY": "",
        "SPACED": " x ",
    }


def test_a_repeated_key_keeps_the_last_value() -> None:
    assert parse_env(["A=1", "B=2", "A=3"]) == {"A": "3", "B": "2"}


@pytest.mark.parametrize("pair", ["NOVALUE", "", "=value", "=", "A:1"])
def test_a_pair_without_key_or_equals_exits_2(
    pair: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as exc:
        parse_env(["OK=1", pair])
    assert exc.value.exit_code == BAD_INPUT == 2
    err = capsys.readouterr().err
    assert f"error: --env {pair!r}: expected KEY=VALUE" in err
