"""The pure drain machine, phases and exit codes, with a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.machine import IllegalTransition
from changeover.runtime.config import Timing
from changeover.runtime.drain import Drain
from changeover.runtime.outcome import ExitCode, Outcome
from changeover.runtime.phase import TABLE, Phase, PhaseEvent
from tests.helpers import check_answer


def serving(**timing: float) -> Drain:
    drain = Drain(Timing(**timing))  # type: ignore[arg-type]
    drain.started()
    return drain


P, E = Phase, PhaseEvent
# Read by event (the table reads by phase); every pair not listed is refused.
EXPECTED: dict[PhaseEvent, dict[Phase, Phase]] = {
    E.STARTUP_FINISHED: {P.STARTING: P.SERVING},
    E.STOP_ASKED: {P.STARTING: P.DRAINING, P.SERVING: P.DRAINING},
    E.RELEASED: {P.DRAINING: P.STOPPING, P.STOPPING: P.STOPPING},
    E.FINISHED: {P.STOPPING: P.STOPPED},
}


@pytest.mark.parametrize("event", list(PhaseEvent))
@pytest.mark.parametrize("phase", list(Phase))
def test_table_answers_every_event_in_every_phase(phase: Phase, event: PhaseEvent) -> None:
    check_answer(TABLE, phase, event, EXPECTED[event].get(phase))


def test_stopped_is_terminal_and_the_machine_refuses_going_back() -> None:
    assert [p for p in P if TABLE.terminal(p)] == [P.STOPPED]
    assert repr(P.DRAINING) == "<Phase draining>"
    assert repr(E.RELEASED) == "<PhaseEvent released>"
    drain = serving()
    drain.stop(now=0.0)
    drain.started()  # a late startup is ignored: still draining
    assert drain.phase is P.DRAINING
    drain.released(now=1.0)
    drain.released(now=2.0)  # the server may be released twice (signal, then lifespan)
    drain.finish((), ())
    with pytest.raises(IllegalTransition, match="lifecycle cannot take released when stopped"):
        drain.released(now=3.0)


def test_only_serving_is_ready_and_draining_phases_close_connections() -> None:
    assert [p for p in Phase if p.ready] == [Phase.SERVING]
    assert {p for p in Phase if p.draining} == {Phase.DRAINING, Phase.STOPPING, Phase.STOPPED}


def test_idle_drain_releases_at_once() -> None:
    drain = serving(grace_period=30)
    assert drain.stop(now=0.0) is True
    assert drain.stop(now=1.0) is False  # only the first call begins it
    assert drain.release_due(now=0.0)


def test_release_waits_for_the_request_in_flight() -> None:
    drain = serving(grace_period=30)
    drain.request_started()
    drain.stop(now=0.0)
    assert not drain.release_due(now=2.0)
    assert drain.next_check(now=2.0) == pytest.approx(Timing(30).release_after - 2.0)
    drain.request_finished()
    assert drain.release_due(now=2.0)


def test_drain_delay_keeps_serving_even_when_idle() -> None:
    drain = serving(grace_period=30, drain_delay=5)
    drain.stop(now=10.0)
    assert not drain.release_due(now=14.9)
    assert drain.next_check(now=14.0) == pytest.approx(1.0)
    assert drain.release_due(now=15.0)


def test_release_is_forced_at_release_after_and_counts_cut_requests() -> None:
    drain = serving(grace_period=10, drain_timeout=4)
    drain.request_started()
    drain.request_started()
    drain.stop(now=0.0)
    assert not drain.release_due(now=3.9)
    assert drain.release_due(now=4.0)
    drain.released(now=4.0)
    drain.request_finished(cut=True)
    outcome = drain.finish((), ())
    assert outcome == Outcome(requests_cut=2)  # one cancelled, one never finished
    assert drain.phase is Phase.STOPPED
    assert outcome.exit_code is ExitCode.DEADLINE


def test_exit_deadline_is_inside_the_grace_period() -> None:
    drain = serving(grace_period=30)
    assert drain.exit_at() is None
    drain.stop(now=100.0)
    assert drain.exit_at() == pytest.approx(129.0)
    assert serving(grace_period=2).timing.exit_after == pytest.approx(1.8)


def test_unmatched_finish_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="without a matching request_started"):
        serving().request_finished()


def test_shutdown_without_a_stop_drains_first() -> None:
    drain = serving()
    drain.released(now=1.0)
    assert drain.phase is Phase.STOPPING
    assert drain.asked_at == 1.0


def test_stop_during_startup_never_serves() -> None:
    drain = Drain(Timing())
    drain.stop(now=0.0)
    drain.started()
    assert drain.phase is Phase.DRAINING


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (Outcome(), ExitCode.CLEAN),
        (Outcome(background_cancelled=("q",)), ExitCode.BACKGROUND_CANCELLED),
        (Outcome(hooks_failed=("db",), background_cancelled=("q",)), ExitCode.HOOK_FAILED),
        (Outcome(requests_cut=1, hooks_failed=("db",)), ExitCode.DEADLINE),
    ],
)
def test_most_severe_problem_decides_the_exit_code(outcome: Outcome, code: ExitCode) -> None:
    assert outcome.exit_code is code
    assert f"exit {int(code)}" in outcome.describe()


def test_exit_codes_avoid_gunicorns_halting_codes() -> None:
    assert not {3, 4} & {int(code) for code in ExitCode}


events = st.lists(st.sampled_from(["start", "finish", "tick", "stop"]), max_size=60)


@given(events, st.floats(0, 5), st.floats(0.5, 60))
def test_release_never_while_busy_before_the_deadline(
    script: list[str], delay: float, grace: float
) -> None:
    """Property: the server is released only when idle after the delay, or at the deadline."""
    drain = serving(grace_period=grace, drain_delay=min(delay, grace / 2))
    now = 0.0
    for event in script:
        if event == "start":
            drain.request_started()
        elif event == "finish" and drain.in_flight:
            drain.request_finished()
        elif event == "stop":
            drain.stop(now)
        now += 0.5
        due = drain.release_due(now)
        if drain.asked_at is None:
            assert not due  # never released without a stop
            continue
        elapsed = now - drain.asked_at
        if due and drain.in_flight:
            assert elapsed >= drain.timing.release_after  # busy: only at the deadline
        if not due:  # liveness: it is due by the deadline, and as soon as idle after the delay
            assert elapsed < drain.timing.release_after
            assert drain.in_flight or elapsed < drain.timing.drain_delay
