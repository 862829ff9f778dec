"""What the controller needs of a rollout strategy: a phase, a step, and commands.

Invariant: a strategy is sans-IO. `step` takes an observation, `now` and the analysis
runs' states and returns a `Decision`; `command` takes an operator's event and returns
the reply, or raises `CommandRefused`; `alert` does the same for a firing alert (carried
out by the next `step`); none reads a clock or touches a process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from changeover.rollout.decision import AnalysisObs, Decision
from changeover.rollout.events import AlertFired, OperatorEvent
from changeover.rollout.observe import RevisionObs
from changeover.rollout.phase import Phase


class Strategy(Protocol):
    @property
    def phase(self) -> Phase: ...

    def step(
        self, obs: Mapping[int, RevisionObs], now: float, runs: Mapping[str, AnalysisObs]
    ) -> Decision: ...

    def command(self, event: OperatorEvent, now: float) -> str: ...

    def alert(self, event: AlertFired) -> str: ...
