"""The phase table: every event fed to every phase, its answer or its refusal.

`GRID` is the table as a reader checks it by eye (events down, active phases across;
"-" refuses); terminal phases accept nothing. The table in `rollout.phase` must give
exactly these answers, and refusals of operator commands read as users see them.
"""

from __future__ import annotations

import itertools

import pytest

from changeover.machine import IllegalTransition
from changeover.rollout import events
from changeover.rollout.events import AbortRequested, Event, Promoted
from changeover.rollout.phase import EVENT_TRIGGERED_TRANSITIONS as TABLE
from changeover.rollout.phase import Phase, refusal

GRID = """
                          progressing   paused        guarding      rolling-back
Promoted                  progressing   progressing   succeeded     -
AbortRequested            rolling-back  rolling-back  rolling-back  -
Paused                    paused        -             -             -
Resumed                   -             progressing   -             -
StepCompleted             progressing   -             -             -
PauseStepReached          paused        -             -             -
AnalysisInconclusive      paused        paused        guarding      -
AnalysisFailed            rolling-back  rolling-back  rolling-back  -
DeadlineExceeded          rolling-back  -             -             -
BootFailed                rolling-back  rolling-back  rolling-back  -
Succeeded                 succeeded     -             -             -
GuardStarted              guarding      -             -             -
GuardPassed               -             -             succeeded     -
AlertFired                rolling-back  rolling-back  rolling-back  -
RollbackComplete          -             -             -             failed
AbortComplete             -             -             -             aborted
RollbackDeadlineExceeded  -             -             -             failed
Interrupted               interrupted   interrupted   interrupted   interrupted
"""
TERMINAL = (Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED, Phase.INTERRUPTED)


def expected() -> dict[tuple[Phase, type[Event]], Phase | None]:
    header, *rows = GRID.strip().splitlines()
    phases = [Phase(p) for p in header.split()]
    out: dict[tuple[Phase, type[Event]], Phase | None] = {}
    for row in rows:
        name, *cells = row.split()
        event = getattr(events, name)
        for phase, cell in zip(phases, cells, strict=True):
            out[phase, event] = None if cell == "-" else Phase(cell)
        for phase in TERMINAL:
            out[phase, event] = None
    return out


EXPECTED = expected()


def test_the_grid_names_every_phase_and_every_event() -> None:
    assert {phase for phase, _ in EXPECTED} == set(Phase)
    assert {event for _, event in EXPECTED} == set(events.ALL)


@pytest.mark.parametrize(("phase", "event"), list(itertools.product(Phase, events.ALL)))
def test_every_event_in_every_phase(phase: Phase, event: type[Event]) -> None:
    target = EXPECTED[phase, event]
    assert TABLE.can(phase, event) is (target is not None)
    if target is not None:
        assert TABLE.transition(phase, event) is target
        return
    with pytest.raises(IllegalTransition) as refused:
        TABLE.transition(phase, event)
    assert (refused.value.state, refused.value.event) == (phase, event)
    assert set(refused.value.accepts) == TABLE.accepts(phase)


def test_terminal_phases_are_final_and_active_ones_can_be_interrupted() -> None:
    assert {p for p in Phase if p.terminal} == set(TERMINAL)
    assert all(TABLE.can(p, events.Interrupted) for p in Phase if p.active)


def test_refusals_users_are_told_about() -> None:
    assert refusal(Phase.SUCCEEDED, AbortRequested()) == "cannot abort a rollout that is succeeded"
    assert refusal(Phase.ROLLING_BACK, AbortRequested("ci")) == (
        "cannot abort a rollout that is rolling-back"
    )
    assert refusal(Phase.PAUSED, Promoted(full=True)) == (
        "cannot promote --full a rollout that is paused"
    )
    assert refusal(Phase.GUARDING, events.Paused("ci")) == (
        "cannot pause a rollout that is guarding"
    )


def test_can_become_follows_chains_of_events() -> None:
    """The store checks recorded moves with it: one decision may take several events."""
    assert Phase.PAUSED.can_become(Phase.FAILED)  # fails, then the rollback completes
    assert Phase.PROGRESSING.can_become(Phase.ABORTED)
    assert Phase.PROGRESSING.can_become(Phase.GUARDING)
    assert Phase.GUARDING.can_become(Phase.FAILED)  # a failure in the window rolls back
    assert not Phase.GUARDING.can_become(Phase.PAUSED)  # nothing to hold: traffic moved
    assert {p for p in Phase if Phase.ROLLING_BACK.can_become(p)} == {
        Phase.FAILED,
        Phase.ABORTED,
        Phase.INTERRUPTED,
    }
    assert not Phase.PROGRESSING.can_become(Phase.PROGRESSING)  # a move is a change
    assert not any(t.can_become(p) for t in TERMINAL for p in Phase)


def test_repr_is_readable() -> None:
    assert repr(Phase.ROLLING_BACK) == "<Phase rolling-back>"
