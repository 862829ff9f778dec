"""Transition tables whose lookup is the program (the shape of h11's `_state.py`).

Invariant: a machine's state changes only through `Table.transition(state, event)`; the
answer is the table's entry, and a pair the table does not list raises the one
`IllegalTransition`, naming the machine, the state, the event and what that state
accepts. Tables are total over their states (a terminal state maps to no events), so a
state added to an enum without a row fails at import time, not mid-rollout.

A leaf module: the standard library only, so every layer (the app-side runtime included)
can use it. Event keys are enum members or event classes (as h11 keys on `type(event)`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E")  # hashable in practice; mypy will not accept `type[X]` as Hashable


def label(key: object) -> str:
    """How a state or event reads in a message: an enum's value, a class's name."""
    if isinstance(key, enum.Enum):
        return str(key.value)
    if isinstance(key, type):
        return key.__name__
    return str(key)


class IllegalTransition(RuntimeError):
    """A machine was given an event its current state does not accept."""

    def __init__(self, machine: str, state: object, event: object, accepts: Iterable[object]):
        self.machine, self.state, self.event = machine, state, event
        self.accepts = tuple(accepts)
        names = ", ".join(sorted(label(e) for e in self.accepts)) or "nothing: it is final"
        super().__init__(
            f"{machine} cannot take {label(event)} when {label(state)} (it accepts {names})"
        )


class Table(Generic[S, E]):
    """`TABLE[state][event] -> state`, checked once when built, consulted on every move."""

    __slots__ = ("_moves", "machine", "states")

    def __init__(self, machine: str, states: Iterable[S], moves: Mapping[S, Mapping[E, S]]) -> None:
        self.machine = machine
        self.states: tuple[S, ...] = tuple(states)
        missing = [label(s) for s in self.states if s not in moves]
        extra = [label(s) for s in moves if s not in self.states]
        if missing or extra:
            raise ValueError(f"{machine} table: rows missing {missing}, unknown rows {extra}")
        for state, row in moves.items():
            for event, target in row.items():
                if target not in self.states:
                    raise ValueError(
                        f"{machine} table: {label(state)} on {label(event)} goes to "
                        f"{label(target)}, which is not a state"
                    )
        self._moves: Mapping[S, Mapping[E, S]] = MappingProxyType(
            {s: MappingProxyType(dict(moves[s])) for s in self.states}
        )

    def transition(self, state: S, event: E) -> S:
        """The state `event` leads to from `state`; IllegalTransition if there is none."""
        row = self._moves[state]
        try:
            return row[event]
        except KeyError:
            raise IllegalTransition(self.machine, state, event, row) from None

    def accepts(self, state: S) -> frozenset[E]:
        return frozenset(self._moves[state])

    def can(self, state: S, event: E) -> bool:
        return event in self._moves[state]

    def terminal(self, state: S) -> bool:
        return not self._moves[state]

    def row(self, state: S) -> Mapping[E, S]:
        return self._moves[state]

    def events(self) -> frozenset[E]:
        """Every event some state accepts."""
        return frozenset(e for row in self._moves.values() for e in row)

    def targets(self, state: S) -> frozenset[S]:
        """The states one event can lead to from `state`."""
        return frozenset(self._moves[state].values())
