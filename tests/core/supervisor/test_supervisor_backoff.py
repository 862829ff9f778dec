"""Backoff delays on a fake clock."""

from __future__ import annotations

import pytest

from changeover.supervisor.backoff import Backoff


def test_delays_double_up_to_the_cap() -> None:
    backoff = Backoff(initial=1.0, factor=2.0, cap=30.0)
    assert [backoff.failure(now=t) for t in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.failures == 8


def test_a_long_ready_run_resets_the_delay() -> None:
    backoff = Backoff(initial=1.0, reset_after=60.0)
    for t in range(4):
        backoff.failure(now=t)
    backoff.ready(now=100.0)
    assert backoff.failure(now=160.0) == 1.0
    assert backoff.failure(now=161.0) == 2.0


def test_a_short_ready_run_does_not_reset() -> None:
    backoff = Backoff(initial=1.0, reset_after=60.0)
    backoff.failure(now=0.0)
    backoff.ready(now=10.0)
    assert backoff.failure(now=69.9) == 2.0


def test_readiness_must_be_continuous() -> None:
    backoff = Backoff(initial=1.0, reset_after=60.0)
    backoff.failure(now=0.0)
    backoff.ready(now=10.0)
    backoff.unready(now=50.0)  # 40 s ready
    backoff.ready(now=55.0)
    assert backoff.failure(now=100.0) == 2.0  # another 45 s: still not 60 in a row
    backoff.ready(now=200.0)
    backoff.unready(now=260.0)  # the reset is earned even if it fails later
    assert backoff.failure(now=500.0) == 1.0


def test_long_crash_loops_do_not_overflow() -> None:
    backoff = Backoff(initial=0.5, factor=10.0, cap=300.0)
    assert max(backoff.failure(now=float(t)) for t in range(5000)) == 300.0


@pytest.mark.parametrize(
    "kwargs", [{"initial": 0}, {"factor": 0.5}, {"initial": 5, "cap": 1}, {"reset_after": -1}]
)
def test_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(**kwargs)
