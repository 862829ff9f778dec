"""Drive a progressive strategy through the fake supervisor, with scripted analysis runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from changeover.rollout.decision import AnalysisObs, Decision, RunState
from changeover.rollout.events import OperatorEvent
from changeover.rollout.strategy import Strategy

from ._sim import World, apply, observe, tick


@dataclass
class FakeRuns:
    """Each requested run reports RUNNING for `after` seconds, then its scripted outcome."""

    script: dict[str, tuple[RunState, float]] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)

    def observe(self, requested: Decision | None, now: float) -> dict[str, AnalysisObs]:
        if requested is not None:
            for req in requested.analyses:
                self.started.setdefault(req.key, now)
        out = {}
        for key, at in self.started.items():
            state, after = self.script.get(key, (RunState.SUCCESSFUL, 2.0))
            done = now >= at + after
            summary = f"{key} {state.value}" if done else ""
            out[key] = AnalysisObs(state if done else RunState.RUNNING, summary)
        return out


def drive(
    machine: Strategy,
    world: World,
    runs: FakeRuns | None = None,
    commands: Mapping[int, OperatorEvent] | None = None,
    until: Callable[[Decision], bool] = lambda d: d.phase.terminal,
    max_ticks: int = 500,
) -> tuple[World, list[Decision]]:
    """Tick until `until(decision)`; `commands` are issued before the step of that tick."""
    runs = runs or FakeRuns()
    decisions: list[Decision] = []
    for i in range(max_ticks):
        if commands and i in commands:
            machine.command(commands[i], world.now)
        previous = decisions[-1] if decisions else None
        decision = machine.step(observe(world), world.now, runs.observe(previous, world.now))
        world = apply(world, decision)
        decisions.append(decision)
        if until(decision):
            return world, decisions
        world = tick(world)
    raise AssertionError(f"no end in {max_ticks} ticks")
