"""Every operator command, to every strategy, in every phase a strategy reaches.

Where the phase table refuses the command's event, the strategy refuses with the table's
words ("cannot abort a rollout that is succeeded"); where it accepts, the strategy ends
in the phase the table gives, unless one of the strategy's own guards (which are not
about the phase) refuses first.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from changeover.rollout.bluegreen import BlueGreen, BlueGreenParams
from changeover.rollout.canary import Canary, CanaryParams
from changeover.rollout.core import Core
from changeover.rollout.decision import Command, CommandRefused
from changeover.rollout.events import AbortRequested, OperatorEvent, Paused, Promoted, Resumed
from changeover.rollout.phase import EVENT_TRIGGERED_TRANSITIONS as TABLE
from changeover.rollout.phase import Phase
from changeover.rollout.rolling import NO_STABLE, NO_STEPS, RollingParams, RollingUpdate
from changeover.rollout.steps import SetWeight

from ._drive import drive
from ._sim import Behaviour, World, seeded

HEALTHY = seeded({1: Behaviour(), 2: Behaviour(ready_after=(1,))}, stable=1, count=2)
CRASHING = seeded({1: Behaviour(), 2: Behaviour(crash=True)}, stable=1, count=2)
BASE = {"replicas": 2, "stable_replicas": 2, "min_ready": 0.0, "progress_deadline": 30.0}


def rolling() -> Core:
    return RollingUpdate(1, 2, RollingParams(2, 1, 0, 0.0, 30.0), 0.0)


def canary() -> Core:
    return Canary(1, 2, CanaryParams(**BASE, steps=(SetWeight(50),)), 0.0)  # type: ignore[arg-type]


def bluegreen() -> Core:
    return BlueGreen(1, 2, BlueGreenParams(**BASE), 0.0)  # type: ignore[arg-type]


def driven(machine: Core, world: World) -> Core:
    drive(machine, world)
    return machine


REACH: dict[Phase, Callable[[Core], Core]] = {
    Phase.PROGRESSING: lambda m: m,
    Phase.PAUSED: lambda m: (m.command(Paused(), 0.0), m)[1],
    Phase.ROLLING_BACK: lambda m: (m.command(AbortRequested(), 0.0), m)[1],
    Phase.ABORTED: lambda m: driven(REACH[Phase.ROLLING_BACK](m), HEALTHY),
    Phase.FAILED: lambda m: driven(m, CRASHING),
    Phase.SUCCEEDED: lambda m: driven(m, HEALTHY),
}
STRATEGIES = {"rolling": rolling, "canary": canary, "blue-green": bluegreen}
COMMANDS: dict[str, OperatorEvent] = {
    "promote": Promoted(),
    "promote --full": Promoted(full=True),
    "abort": AbortRequested(),
    "pause": Paused(),
    "resume": Resumed(),
}


@pytest.mark.parametrize(
    ("strategy", "phase", "verb"), list(itertools.product(STRATEGIES, REACH, COMMANDS))
)
def test_each_command_in_each_phase(strategy: str, phase: Phase, verb: str) -> None:
    machine = REACH[phase](STRATEGIES[strategy]())
    assert machine.phase is phase
    event = COMMANDS[verb]
    if strategy == "rolling" and isinstance(event, Promoted):
        with pytest.raises(CommandRefused, match=f"^{NO_STEPS}$"):
            machine.command(event, 1.0)
    elif not TABLE.can(phase, type(event)):
        with pytest.raises(CommandRefused) as refused:
            machine.command(event, 1.0)
        assert str(refused.value) == f"cannot {verb} a rollout that is {phase.value}"
        assert machine.phase is phase
    else:
        reply = machine.command(event, 1.0)
        assert reply in machine.pending
        assert machine.phase is TABLE.transition(phase, type(event))


API = {
    Command.PROMOTE: Promoted("ci"),
    Command.PROMOTE_FULL: Promoted("ci", full=True),
    Command.ABORT: AbortRequested("ci"),
    Command.PAUSE: Paused("ci"),
    Command.RESUME: Resumed("ci"),
}


@pytest.mark.parametrize("command", list(Command))
def test_each_api_command_becomes_its_event_named_by_its_verb(command: Command) -> None:
    event = command.event("ci")
    assert event == API[command]
    assert event.verb == command.value  # a refusal names the command as it was sent


def test_the_first_rollout_cannot_be_aborted_but_can_be_paused() -> None:
    first = RollingUpdate(None, 1, RollingParams(2, 1, 0, 0.0, 30.0), 0.0)
    with pytest.raises(CommandRefused, match=f"^{NO_STABLE}$"):
        first.command(AbortRequested(), 0.0)
    assert first.command(Paused("ci"), 0.0) == "rollout paused by ci"
    assert first.phase is Phase.PAUSED
