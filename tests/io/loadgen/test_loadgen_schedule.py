"""The open-loop schedule as pure logic: due times, end conditions and stop, on fake times."""

from __future__ import annotations

import asyncio
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from changeover.loadgen.schedule import Schedule


def _sent(schedule: Schedule, connections: int, now: float) -> list[float]:
    """Due times of every request the workers would issue if none of them is ever late."""
    dues: list[float] = []
    for worker in range(connections):
        i = worker
        while (due := schedule.due(i, max(now, schedule.t0 + i / schedule.rate))) is not None:
            dues.append(due)
            i += connections
    return sorted(dues)


def test_a_duration_run_sends_rate_times_duration_evenly() -> None:
    schedule = Schedule(rate=300, duration=1.0, requests=None)
    schedule.begin(100.0)
    dues = _sent(schedule, connections=5, now=100.0)
    assert len(dues) == 300
    assert dues[0] == 100.0
    assert sum(d < 100.5 for d in dues) == 150  # spread over the second, not a burst
    assert all(b > a for a, b in pairwise(dues))


def test_request_limit_cuts_the_schedule() -> None:
    schedule = Schedule(rate=100, duration=None, requests=7)
    schedule.begin(0.0)
    assert len(_sent(schedule, connections=3, now=0.0)) == 7


def test_nothing_is_due_once_the_end_has_passed() -> None:
    schedule = Schedule(rate=10, duration=2.0, requests=None)
    schedule.begin(0.0)
    assert schedule.due(5, now=0.4) == 0.5
    assert schedule.due(5, now=2.0) is None  # a worker that wakes after the end sends nothing
    assert schedule.due(20, now=0.0) is None  # due at the end itself: outside the run


def test_stop_ends_the_schedule_and_wakes_sleepers() -> None:
    async def scenario() -> tuple[bool, float | None]:
        schedule = Schedule(rate=1, duration=None, requests=None)
        loop = asyncio.get_running_loop()
        schedule.begin(loop.time())
        sleeper = asyncio.ensure_future(schedule.sleep_until(loop.time() + 1000))
        await asyncio.sleep(0)
        schedule.stop()
        async with asyncio.timeout(30):  # only a broken stop() reaches this guard
            woke = await sleeper
        return woke, schedule.due(1, loop.time())

    assert asyncio.run(scenario()) == (False, None)


@given(
    st.floats(0.5, 5000),
    st.floats(0.01, 10) | st.none(),
    st.integers(1, 500) | st.none(),
    st.integers(1, 16),
)
def test_never_more_than_the_limits(
    rate: float, duration: float | None, requests: int | None, connections: int
) -> None:
    if duration is None and requests is None:
        requests = 50  # an unbounded run has no count to check
    schedule = Schedule(rate, duration, requests)
    schedule.begin(0.0)
    dues = _sent(schedule, connections, now=0.0)
    if requests is not None:
        assert len(dues) <= requests
    if duration is not None:
        assert all(d < duration for d in dues)
        assert len(dues) <= rate * duration + 1
