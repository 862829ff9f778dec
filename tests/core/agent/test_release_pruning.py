"""Which release folders `[releases] keep` lets an agent remove: never one of the newest
received, never one something may still run from; every other one, oldest first."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.agent.release_pruning import InUse, Received, removable

ROOT = Path("/srv/hello/.changeover/releases")


def got(n: int, at: float | None = None) -> Received:
    return Received(f"1.{n}.0", ROOT / f"1.{n}.0-abc", float(n) if at is None else at)


NOTHING = InUse.of([], [], None, [])


def test_the_newest_are_kept_and_the_rest_go_oldest_first() -> None:
    held = [got(n) for n in (3, 1, 4, 2, 5)]
    assert [r.version for r in removable(held, 2, NOTHING)] == ["1.1.0", "1.2.0", "1.3.0"]
    assert removable(held, 5, NOTHING) == []
    assert removable(held, 9, NOTHING) == []


def test_what_something_may_still_run_from_stays() -> None:
    held = [got(n) for n in range(1, 7)]
    in_use = InUse.of(
        newest_revisions=[got(1).path],
        with_replicas=[got(2).path],
        stable=got(3).path,
        promotions=[got(4).path],  # waiting for its gates
    )
    assert [r.version for r in removable(held, 1, in_use)] == ["1.5.0"]


def test_equal_times_order_by_version_and_keep_must_be_positive() -> None:
    held = [got(1, at=7.0), got(2, at=7.0)]
    assert [r.version for r in removable(held, 1, NOTHING)] == ["1.1.0"]
    with pytest.raises(ValueError, match="keep must be at least 1, got 0"):
        removable(held, 0, NOTHING)


@given(
    times=st.lists(st.integers(0, 50), min_size=0, max_size=12),
    keep=st.integers(1, 6),
    used=st.sets(st.integers(0, 11)),
)
def test_never_a_newest_nor_one_in_use_and_every_other_one(
    times: list[int], keep: int, used: set[int]
) -> None:
    held = [got(i, at=float(t)) for i, t in enumerate(times)]
    in_use = InUse.of([held[i].path for i in used if i < len(held)], [], None, [])
    gone = removable(held, keep, in_use)
    newest = sorted(held, key=lambda r: (r.received_at, r.version), reverse=True)[:keep]
    assert not set(gone) & set(newest)
    assert all(r.path not in in_use.paths for r in gone)
    rest = [r for r in held if r not in newest and r.path not in in_use.paths]
    assert sorted(gone, key=lambda r: r.version) == sorted(rest, key=lambda r: r.version)
    assert [r.received_at for r in gone] == sorted(r.received_at for r in gone)
