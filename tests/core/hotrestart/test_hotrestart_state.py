"""The phase table, and properties of the core under any sequence of events."""

from __future__ import annotations

import signal
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.hotrestart.actions import Action, KillGroup, Outcome, Signal, Spawn
from changeover.hotrestart.core import HotRestart
from changeover.hotrestart.events import Event, Exited, Ready, Reload, Terminate, Tick
from changeover.hotrestart.generation import Timing
from changeover.hotrestart.state import TABLE, Phase, PhaseEvent
from tests.helpers import check_answer

P, E = Phase, PhaseEvent

# Read by event (the table reads by phase): where each event leads from each phase that
# takes it. Every pair not listed is refused.
EXPECTED: dict[PhaseEvent, dict[Phase, Phase]] = {
    E.RELOAD_REQUESTED: {P.SERVING: P.UPGRADING},
    E.CANDIDATE_READY: {P.STARTING: P.SERVING, P.UPGRADING: P.SERVING, P.RECOVERING: P.SERVING},
    E.SUCCESSOR_READY: {P.UPGRADING: P.RETIRING, P.RECOVERING: P.RETIRING},
    E.CANDIDATE_EXITED: {P.UPGRADING: P.SERVING},
    E.CANDIDATE_LATE: {P.UPGRADING: P.ABORTING},
    E.LONE_CANDIDATE_FAILED: {
        P.STARTING: P.STOPPING,
        P.UPGRADING: P.STOPPING,
        P.RECOVERING: P.STOPPING,
    },
    E.SERVING_EXITED: {
        P.SERVING: P.STOPPING,
        P.UPGRADING: P.UPGRADING,
        P.ABORTING: P.STOPPING,
    },
    E.SUCCESSOR_EXITED: {P.RETIRING: P.RECOVERING},
    E.LEAVER_EXITED: {
        P.RETIRING: P.SERVING,
        P.ABORTING: P.SERVING,
        P.RECOVERING: P.RECOVERING,
        P.STOPPING: P.STOPPING,
    },
    E.STOP_REQUESTED: {p: P.STOPPING for p in P if p is not P.EXITED},
    E.ALL_EXITED: {P.STOPPING: P.EXITED},
}


@pytest.mark.parametrize("event", list(PhaseEvent))
@pytest.mark.parametrize("phase", list(Phase))
def test_table_answers_every_event_in_every_phase(phase: Phase, event: PhaseEvent) -> None:
    check_answer(TABLE, phase, event, EXPECTED[event].get(phase))


def test_exited_is_terminal_and_only_serving_takes_a_reload() -> None:
    assert [p for p in P if TABLE.terminal(p)] == [P.EXITED]
    assert [p for p in P if not p.busy] == [P.SERVING]
    assert repr(P.RETIRING) == "<Phase retiring>"
    assert repr(E.ALL_EXITED) == "<PhaseEvent all-exited>"


# Generation 0 stands for the newest one, resolved when fed: numbers drawn blindly are
# mostly stale, and sequences would seldom get past the first upgrade. For the same
# reason stops are rare and pauses mostly short; `test_the_event_sequences_reach_every_phase`
# checks that the sequences do reach every phase.
NEWEST = 0
codes = st.sampled_from([0, 1, -9, -15])
KINDS: dict[str, st.SearchStrategy[Event]] = {
    "reload": st.just(Reload()),
    "ready": st.just(Ready(NEWEST)),
    "ready-any": st.builds(Ready, st.integers(1, 6)),
    "exit": st.builds(Exited, st.just(NEWEST), codes),
    "exit-any": st.builds(Exited, st.integers(1, 6), codes),
    "tick": st.just(Tick()),
    "stop": st.just(Terminate(signal.SIGTERM)),
}
WEIGHTS = {"reload": 5, "ready": 6, "ready-any": 2, "exit": 3, "exit-any": 3, "tick": 3, "stop": 1}
kinds = st.sampled_from([kind for kind, weight in WEIGHTS.items() for _ in range(weight)])
events = kinds.flatmap(KINDS.__getitem__)
pauses = st.sampled_from([0.0, 0.0, 0.5, 2.0, 6.0, 11.0])
steps = st.lists(st.tuples(events, pauses), min_size=10, max_size=60)


class Observer:
    """Feeds events and checks, after each, the invariants the module docstring promises."""

    def __init__(self) -> None:
        self.core = HotRestart(Timing(ready_timeout=10, grace_period=5))
        self.now = 0.0
        self.spawned: set[int] = set()
        self.exited: set[int] = set()
        self.answers: list[int] = []
        self.phases: set[Phase] = set()
        self.check(self.core.start(self.now), Tick())

    def feed(self, event: Event, after: float) -> None:
        if isinstance(event, Ready | Exited) and event.gen == NEWEST:
            event = replace(event, gen=max(self.spawned))
        self.now += after
        serving_before, phase_before = self.core.serving, self.core.phase
        actions = self.core.handle(event, self.now)
        self.check(actions, event)
        self.phases.add(self.core.phase)
        stopped_serving = any(a == Signal(serving_before or 0, signal.SIGTERM) for a in actions)
        if stopped_serving:  # only a ready successor or a stop may end the serving one
            assert isinstance(event, Ready | Terminate) or self.core.phase is Phase.STOPPING
        if phase_before is Phase.RETIRING and self.core.phase is Phase.STOPPING:
            # the old one was told to stop: only a stop request may leave nothing serving
            assert isinstance(event, Terminate)

    def check(self, actions: list[Action], event: Event) -> None:
        just_exited = event.gen if isinstance(event, Exited) and event.gen in self.spawned else None
        for action in actions:
            if isinstance(action, Spawn):
                # a restart repeats the command of a generation still alive and leaving
                assert action.like is None or action.like in self.spawned - self.exited
                self.spawned.add(action.gen)
            elif isinstance(action, Signal):
                assert action.gen in self.spawned
                assert action.gen not in self.exited
            elif isinstance(action, KillGroup):
                assert action.gen not in self.exited or action.gen == just_exited
            elif isinstance(action, Outcome):
                self.answers.append(action.number)
        if just_exited is not None:
            self.exited.add(just_exited)
        assert len(self.spawned - self.exited) <= 2  # at most one upgrade at a time
        assert set(self.core.gens) == self.spawned - self.exited

    def finish(self) -> None:
        """Stop, let every process exit, and check each reload got exactly one answer."""
        self.feed(Terminate(signal.SIGTERM), 0)
        for gen in sorted(self.spawned - self.exited):
            self.feed(Exited(gen, 0), 1)
        assert self.core.phase is Phase.EXITED
        # a failed upgrade exits 1; otherwise the child's code, shell-style: of the codes
        # generated (0, 1, -9, -15), dying of the stop signal SIGTERM counts as 0
        assert self.core.exit_code in (0, 1, 128 + signal.SIGKILL)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_any_event_sequence_keeps_the_invariants(seq: list[tuple[Event, float]]) -> None:
    observer = Observer()
    for event, after in seq:
        if observer.core.phase is Phase.EXITED:
            break
        observer.feed(event, after)
    if observer.core.phase is not Phase.EXITED:
        observer.finish()
    assert observer.core.next_deadline() is None
    assert sorted(observer.answers) == list(range(1, observer.core.reloads + 1))


def test_the_event_sequences_reach_every_phase() -> None:
    """The property above is only as good as the phases its sequences reach."""
    seen: set[Phase] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(steps)
    def walk(seq: list[tuple[Event, float]]) -> None:
        observer = Observer()
        for event, after in seq:
            if observer.core.phase is Phase.EXITED:
                break
            observer.feed(event, after)
        seen.update(observer.phases)

    walk()
    assert seen == set(Phase)
