"""The shared transition-table kit: lookups, refusals, and tables checked when built."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import pytest

from changeover.machine import IllegalTransition, Table, label


class Light(enum.Enum):
    OFF = "off"
    ON = "on"
    BROKEN = "broken"


class Flip(enum.Enum):
    PRESS = "press"
    SURGE = "surge"


@dataclass(frozen=True)
class Smashed:
    by: str


TABLE: Table[Light, object] = Table(
    "lamp",
    Light,
    {
        Light.OFF: {Flip.PRESS: Light.ON, Smashed: Light.BROKEN},
        Light.ON: {Flip.PRESS: Light.OFF, Flip.SURGE: Light.BROKEN, Smashed: Light.BROKEN},
        Light.BROKEN: {},
    },
)


def test_transition_is_the_table_entry() -> None:
    assert TABLE.transition(Light.OFF, Flip.PRESS) is Light.ON
    assert TABLE.transition(Light.ON, Flip.PRESS) is Light.OFF
    assert TABLE.transition(Light.ON, Smashed) is Light.BROKEN


def test_every_pair_answers_as_the_table_says() -> None:
    for state in Light:
        for event in (Flip.PRESS, Flip.SURGE, Smashed):
            if TABLE.can(state, event):
                assert TABLE.transition(state, event) is TABLE.row(state)[event]
            else:
                with pytest.raises(IllegalTransition) as refused:
                    TABLE.transition(state, event)
                assert refused.value.state is state
                assert refused.value.event is event
                assert set(refused.value.accepts) == TABLE.accepts(state)


def test_refusal_names_machine_state_event_and_what_is_accepted() -> None:
    with pytest.raises(
        IllegalTransition,
        match=r"lamp cannot take surge when off "
        r"\(it accepts Smashed, press\)",
    ):
        TABLE.transition(Light.OFF, Flip.SURGE)
    with pytest.raises(IllegalTransition, match="it accepts nothing: it is final"):
        TABLE.transition(Light.BROKEN, Flip.PRESS)


def test_terminal_states_and_queries() -> None:
    assert TABLE.terminal(Light.BROKEN)
    assert not TABLE.terminal(Light.OFF)
    assert TABLE.targets(Light.ON) == {Light.OFF, Light.BROKEN}
    assert TABLE.events() == {Flip.PRESS, Flip.SURGE, Smashed}
    assert label(Smashed) == "Smashed"
    assert label(Light.ON) == "on"


def test_a_missing_row_fails_when_the_table_is_built() -> None:
    with pytest.raises(ValueError, match=r"rows missing \['broken'\]"):
        Table("lamp", Light, {Light.OFF: {}, Light.ON: {}})


def test_a_target_outside_the_states_fails_when_built() -> None:
    class Other(enum.Enum):
        X = "x"

    with pytest.raises(ValueError, match="goes to x, which is not a state"):
        Table("lamp", [Light.OFF], {Light.OFF: {Flip.PRESS: Other.X}})


def test_the_table_cannot_be_changed_after_it_is_built() -> None:
    row = TABLE.row(Light.OFF)
    with pytest.raises(TypeError):
        row[Flip.SURGE] = Light.ON  # type: ignore[index]
