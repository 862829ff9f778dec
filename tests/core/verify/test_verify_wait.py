"""What verify does next while following a rollout: every branch of `next_action`, with
plain values (no clock), and its properties over every input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.rollout.phase import Phase
from changeover.verify.wait import ABORTABLE, Action, Seen, WaitOptions, next_action

NONE = WaitOptions()
BOTH = WaitOptions(max_wait=3.0, promote=True)


@pytest.mark.parametrize("options", [NONE, BOTH, WaitOptions(max_wait=0.1)])
@pytest.mark.parametrize("phase", list(Phase))
def test_a_finished_rollout_is_done_whatever_the_options(
    phase: Phase, options: WaitOptions
) -> None:
    seen = Seen(phase, finished=True, elapsed=100.0, promoted=False, abort_sent=False)
    assert next_action(seen, options) is Action.DONE


@pytest.mark.parametrize("phase", [Phase.PROGRESSING, Phase.PAUSED, Phase.ROLLING_BACK])
def test_without_options_verify_waits_as_long_as_it_takes(phase: Phase) -> None:
    assert next_action(Seen(phase, False, elapsed=1e9), NONE) is Action.WAIT


@pytest.mark.parametrize("phase", [Phase.PROGRESSING, Phase.PAUSED])
def test_past_max_wait_an_unfinished_rollout_is_aborted(phase: Phase) -> None:
    options = WaitOptions(max_wait=3.0)
    assert next_action(Seen(phase, False, elapsed=2.99), options) is Action.WAIT
    assert next_action(Seen(phase, False, elapsed=3.0), options) is Action.ABORT
    assert next_action(Seen(phase, False, elapsed=30.0), options) is Action.ABORT


def test_a_rollout_already_rolling_back_is_not_aborted_again() -> None:
    seen = Seen(Phase.ROLLING_BACK, False, elapsed=10.0)
    assert next_action(seen, BOTH) is Action.WAIT  # the agent would refuse; it ends by itself


def test_after_asking_for_an_abort_verify_only_follows_the_rollback() -> None:
    for phase in (Phase.PROGRESSING, Phase.PAUSED, Phase.ROLLING_BACK):
        seen = Seen(phase, False, elapsed=10.0, promoted=False, abort_sent=True)
        assert next_action(seen, BOTH) is Action.WAIT
    done = Seen(Phase.ABORTED, True, elapsed=11.0, abort_sent=True)
    assert next_action(done, BOTH) is Action.DONE


def test_with_promote_a_pause_is_promoted_once() -> None:
    options = WaitOptions(promote=True)
    assert next_action(Seen(Phase.PAUSED, False, 1.0, promoted=False), options) is Action.PROMOTE
    assert next_action(Seen(Phase.PAUSED, False, 1.0, promoted=True), options) is Action.WAIT
    assert next_action(Seen(Phase.PROGRESSING, False, 1.0), options) is Action.WAIT


def test_without_promote_a_pause_waits() -> None:
    assert next_action(Seen(Phase.PAUSED, False, 1.0), WaitOptions(max_wait=5.0)) is Action.WAIT


def test_the_time_limit_wins_over_promoting() -> None:
    assert next_action(Seen(Phase.PAUSED, False, 3.5), BOTH) is Action.ABORT
    assert next_action(Seen(Phase.PAUSED, False, 2.5), BOTH) is Action.PROMOTE


def test_readable_reprs() -> None:
    assert repr(Action.PROMOTE) == "Action.PROMOTE"
    assert [a.value for a in Action] == ["wait", "promote", "abort", "done"]


SEEN = st.builds(
    Seen,
    phase=st.sampled_from(Phase),
    finished=st.booleans(),
    elapsed=st.floats(min_value=0, max_value=1e6),
    promoted=st.booleans(),
    abort_sent=st.booleans(),
)
OPTIONS = st.builds(
    WaitOptions,
    max_wait=st.none() | st.floats(min_value=1e-3, max_value=1e6),
    promote=st.booleans(),
)


@given(SEEN, OPTIONS)
def test_verify_never_acts_out_of_turn(seen: Seen, options: WaitOptions) -> None:
    action = next_action(seen, options)
    assert (action is Action.DONE) == seen.finished
    if action is Action.ABORT:
        assert options.max_wait is not None
        assert seen.elapsed >= options.max_wait
        assert seen.phase in ABORTABLE
        assert not seen.abort_sent
    if action is Action.PROMOTE:
        assert options.promote
        assert seen.phase is Phase.PAUSED
        assert not seen.promoted
        assert not seen.abort_sent
