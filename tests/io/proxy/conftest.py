"""Every proxy test runs with each exchange's state moves checked against MOVES."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from changeover.proxy.fakes import check_moves


@pytest.fixture(autouse=True)
def checked_moves() -> Iterator[list[str]]:
    with check_moves() as violations:
        yield violations
    assert not violations, f"exchange state moves outside MOVES: {violations}"
