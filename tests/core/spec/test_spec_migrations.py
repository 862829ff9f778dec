"""The `[migrations]` section: defaults, the DESIGN example, and errors naming the key."""

from __future__ import annotations

import pytest

from changeover.spec.load import SpecError, load_spec_text

BASE = '[app]\nname = "svc"\ncommand = "run"\n'


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as exc:
        load_spec_text(BASE + text, "svc.toml")
    return exc.value.lines()


def test_absent_means_no_step() -> None:
    m = load_spec_text(BASE, "svc.toml").migrations
    assert (m.expand, m.contract, m.rollback, m.status, m.configured) == (
        None, None, None, None, False,
    )  # fmt: skip
    assert (m.timeout, m.contract_when) == (300.0, "stable")


def test_the_design_example() -> None:
    m = load_spec_text(
        BASE
        + "[migrations]\n"
        + 'expand = "alembic upgrade expand@head"\n'
        + 'contract = "alembic upgrade contract@head"\n'
        + 'rollback = "alembic downgrade expand@-1"\n'
        + 'status = "alembic current"\n'
        + 'timeout = "5m"\n'
        + 'contract_when = "manual"\n',
        "svc.toml",
    ).migrations
    assert m.configured
    assert (m.expand, m.contract, m.rollback, m.status) == (
        "alembic upgrade expand@head", "alembic upgrade contract@head",
        "alembic downgrade expand@-1", "alembic current",
    )  # fmt: skip
    assert (m.timeout, m.contract_when) == (300.0, "manual")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('contract = "x"', "svc.toml: migrations: contract needs expand"),
        ('expand = "x"\nrollback = "y"\ncontract_when = "later"', "migrations.contract_when"),
        ('expand = "x"\ntimeout = "0s"', "migrations.timeout: must be greater than 0s"),
        ('expand = "x"\ntimeout = "5"', "migrations.timeout"),
        ('expand = ""', "migrations.expand"),
        ('expand = "x"\nexpnad = "y"', "migrations.expnad"),
    ],
)
def test_errors_name_the_key(text: str, expected: str) -> None:
    lines = problems(f"[migrations]\n{text}\n")
    assert any(expected in line for line in lines), lines
