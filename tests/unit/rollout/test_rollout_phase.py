"""The phase table: legal moves pass, illegal ones raise, terminal phases are final."""

from __future__ import annotations

import itertools

import pytest

from changeover.rollout.phase import TRANSITIONS, IllegalTransition, Phase, check_transition

TERMINAL = {Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED, Phase.INTERRUPTED}


def test_table_covers_every_phase() -> None:
    assert set(TRANSITIONS) == set(Phase)


def test_terminal_phases_have_no_moves() -> None:
    assert {p for p in Phase if p.terminal} == TERMINAL
    assert all(not TRANSITIONS[p] for p in TERMINAL)


@pytest.mark.parametrize(("old", "new"), list(itertools.product(Phase, Phase)))
def test_check_transition_follows_the_table(old: Phase, new: Phase) -> None:
    if new in TRANSITIONS[old]:
        assert check_transition(old, new) is new
    else:
        with pytest.raises(IllegalTransition, match=f"from {old.value} to {new.value}"):
            check_transition(old, new)


def test_succeeded_cannot_resume() -> None:
    with pytest.raises(IllegalTransition):
        check_transition(Phase.SUCCEEDED, Phase.PROGRESSING)


def test_rolling_back_can_only_end() -> None:
    assert TRANSITIONS[Phase.ROLLING_BACK] == {Phase.FAILED, Phase.ABORTED, Phase.INTERRUPTED}


def test_repr_is_readable() -> None:
    assert repr(Phase.ROLLING_BACK) == "<Phase rolling-back>"
