"""Status documents for the renderer tests, made by the agent's own `status_document` over
the agent fakes, so their shape is the agent's, never a hand-written copy.

The scenes are those of the README tour: revision 5 stable with three replicas, revision
6 on its way in, and the exited replicas of revisions 1-4 left from earlier rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from changeover.agent.core import Agent
from changeover.agent.status import status_document
from changeover.rollout.decision import Decision, GuardState, GuardView, Hold, PausedBy, Traffic
from changeover.rollout.phase import Phase
from changeover.spec.models import Step
from changeover.spec.strategy import StrategyName
from changeover.store import RevisionStatus
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import ReplicaInfo
from tests.io.agent._fakes import FakeAgent, MemoryStore, replica_info, revision, rollout

NOW = 1_763_700_000.0
STEPS = (
    Step(set_weight=10),
    Step(analysis="slo"),
    Step(pause={}),
    Step(set_weight=50),
)
HISTORY = {
    1: RevisionStatus.SUPERSEDED,
    2: RevisionStatus.SUPERSEDED,
    3: RevisionStatus.FAILED,
    4: RevisionStatus.FAILED,
}
LIVE = {"window": 10.0, "requests": 900, "request_rate": 90.0, "success_rate": 1.0}


def exited(count: int) -> list[ReplicaInfo]:
    """`count` exited replicas of revisions 1-4, as earlier rollouts leave them."""
    return [
        replica_info(
            f"r{1 + i % 4}-{1 + i // 4}",
            ReplicaState.EXITED,
            pid=None,
            port=41_000 + i,
            last_error="exited with code 3" if i % 4 == 2 else "",
        )
        for i in range(count)
    ]


def ready(revision: int, count: int, *, version: str | None = None) -> list[ReplicaInfo]:
    return [
        replica_info(
            f"r{revision}-{i}",
            pid=5000 + 10 * revision + i,
            port=40_000 + 10 * revision + i,
            version=version,
        )
        for i in range(1, count + 1)
    ]


def run(key: str, status: str, summary: str = "", *messages: tuple[str, str, str]) -> Any:
    """An analysis run as the store keeps it, with (metric, outcome, message) measurements."""
    return SimpleNamespace(
        key=key,
        template="slo",
        status=status,
        summary=summary,
        started_at=NOW,
        finished_at=None if status == "running" else NOW + 20,
        measurements=[
            SimpleNamespace(run_key=key, metric=m, outcome=o, value=0.99, message=text, ts=NOW + 10)
            for m, o, text in messages
        ],
    )


@dataclass
class Scene:
    strategy: StrategyName = StrategyName.CANARY
    phase: Phase = Phase.PROGRESSING
    hold: Hold | None = None
    reason: str = ""
    step: int | None = None
    replicas: list[ReplicaInfo] = field(default_factory=lambda: [*ready(5, 3), *ready(6, 1)])
    target: RevisionStatus | None = RevisionStatus.PROGRESSING  # of revision 6; None: none
    frm: int = 5  # the rollout's revisions
    to: int = 6
    runs: list[Any] = field(default_factory=list)
    traffic: Traffic = field(default_factory=lambda: Traffic(weights={5: 90, 6: 10}))
    preview: tuple[str, int] | None = None
    events: list[str] = field(default_factory=lambda: [f"event {i}" for i in range(15)])
    version: str = ""  # of revision 6; "": v6
    guard: GuardView | None = None  # the guard window, while GUARDING

    def document(self) -> dict[str, Any]:
        revisions = {**HISTORY, 5: RevisionStatus.STABLE}
        if self.target is not None:
            revisions[6] = self.target
        shown = replace(
            rollout(8, self.frm, self.to, self.phase, self.reason), strategy=self.strategy
        )
        store = MemoryStore(
            revision_list=[
                replace(revision(r, s, version=self.version if r == 6 else ""), replicas=3)
                for r, s in revisions.items()
            ],
            rollout_list=[shown],
        )
        for i, message in enumerate(self.events):
            store.add_event("rollout", message, now=NOW + i, rollout_id=8)
        store.runs = lambda rollout_id: self.runs  # type: ignore[method-assign]
        store.measurements = lambda rollout_id, limit=200: [  # type: ignore[method-assign]
            m for r in self.runs for m in r.measurements
        ]
        agent = FakeAgent(store, Path("/srv/hello/.changeover"), name="hello")
        agent.supervisor.infos = self.replicas
        agent.traffic = SimpleNamespace(current=self.traffic)
        agent.proxy.preview_address = self.preview
        agent.live = SimpleNamespace(view=lambda revs: {str(r): LIVE for r in revs if r >= 5})
        agent.revision_spec = lambda rev: SimpleNamespace(  # type: ignore[method-assign]
            strategy=SimpleNamespace(steps=STEPS if self.strategy is StrategyName.CANARY else [])
        )
        if self.phase.active:
            decision = Decision(
                self.phase, {5: 3, 6: 1}, (), step=self.step, hold=self.hold, guard=self.guard
            )
            active = SimpleNamespace(rollout=shown, phase=self.phase, decision=decision)
            agent.controller = SimpleNamespace(active=active, linger={})
        return status_document(cast(Agent, agent))


def paused_canary(**kw: Any) -> Scene:
    """At its `pause` step (3/4), waiting for promote, after a successful analysis, with
    the exited replicas of earlier rollouts."""
    passed = run("step-1", "successful", "", ("success", "passed", "success_rate 1.00 >= 0.99"))
    hold = Hold(PausedBy.STEP, "step 3/4: pause until promote")
    history = [*ready(5, 3), *ready(6, 1), *exited(9)]
    return Scene(
        phase=Phase.PAUSED, hold=hold, step=2, runs=[passed], **{"replicas": history, **kw}
    )


def paused_bluegreen() -> Scene:
    return Scene(
        strategy=StrategyName.BLUE_GREEN,
        phase=Phase.PAUSED,
        hold=Hold(PausedBy.STEP, "preview revision 6 is ready"),
        replicas=[*ready(5, 3), *ready(6, 3)],
        traffic=Traffic(weights={5: 100}, preview=6),
        preview=("127.0.0.1", 8081),
    )


def operator_paused() -> Scene:
    return Scene(
        strategy=StrategyName.ROLLING,
        phase=Phase.PAUSED,
        hold=Hold(PausedBy.OPERATOR, "paused by alice"),
        replicas=[*ready(5, 2), *ready(6, 2)],
        traffic=Traffic(),
    )


def inconclusive() -> Scene:
    """At its analysis step (2/4), held by an inconclusive run."""
    summary = 'metric "success" inconclusive 3 times (limit 2): too few canary requests'
    held = run("step-1", "inconclusive", summary, ("success", "inconclusive", "3 requests < 20"))
    hold = Hold(PausedBy.ANALYSIS, "analysis 'slo' inconclusive")
    return Scene(phase=Phase.PAUSED, hold=hold, step=1, runs=[held])


def failed() -> Scene:
    """A rolling deploy of revision 6 that failed at boot: only revision 5 runs."""
    reason = "replica r6-1 failed at boot 3 times: exited with code 3"
    crashed = replica_info("r6-1", ReplicaState.EXITED, pid=None, last_error="exited with code 3")
    return Scene(
        strategy=StrategyName.ROLLING,
        phase=Phase.FAILED,
        reason=reason,
        target=RevisionStatus.FAILED,
        replicas=[*ready(5, 3), crashed, *exited(8)],
        traffic=Traffic(),
    )


def guarding(state: GuardState = GuardState.WATCHING, message: str = "") -> Scene:
    """A canary promoted to 100% in its 15-minute guard window, 14 minutes of it left (the
    fake agent's clock reads 100), revision 5 kept warm."""
    text = message or "watching analysis 'slo', alerts and boot failures; a failure rolls back"
    return Scene(
        phase=Phase.GUARDING,
        step=4,
        replicas=[*ready(5, 3), *ready(6, 3)],
        traffic=Traffic(weights={5: 0, 6: 100}),
        guard=GuardView(900.0, 40.0, "slo", state, text),
    )


def after_the_tour() -> Scene:
    """Nothing in progress: revision 5 serves, 9 replicas of earlier revisions exited."""
    return Scene(
        phase=Phase.SUCCEEDED,
        target=None,
        frm=4,
        to=5,
        strategy=StrategyName.ROLLING,
        replicas=[*ready(5, 2), *exited(9)],
        traffic=Traffic(),
    )
