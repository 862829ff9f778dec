"""The analysis runs of the active rollout: started and stopped as the strategy asks.

Invariant: the set of running tasks always equals the strategy's latest requests minus
the runs that already ended; a run key is started at most once per rollout, and every
measurement and every run's end is in the store before the strategy can act on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from changeover.agent.events import EventLog
from changeover.analysis.model import Measurement, Outcome
from changeover.rollout.decision import AnalysisObs, AnalysisRequest, RunState
from changeover.spec.models import AnalysisTemplate
from changeover.store import Store


class RunHandle(Protocol):
    @property
    def summary(self) -> str: ...

    async def run(self) -> Any: ...  # a status whose `.value` names a RunState


RunnerFactory = Callable[
    [AnalysisRequest, AnalysisTemplate, Callable[[Measurement], None]], RunHandle
]


class Analyses:
    def __init__(
        self,
        *,
        store: Store,
        events: EventLog,
        factory: RunnerFactory,
        wall: Callable[[], float],
        on_change: Callable[[], None],
        on_measurement: Callable[[AnalysisRequest, Measurement], None] = lambda r, m: None,
    ) -> None:
        self._store = store
        self._on_measurement = on_measurement
        self._events = events
        self._factory = factory
        self._wall = wall
        self._on_change = on_change
        self._rollout: int | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._states: dict[str, AnalysisObs] = {}

    def sync(
        self,
        rollout_id: int,
        requests: Sequence[AnalysisRequest],
        templates: Mapping[str, AnalysisTemplate],
    ) -> None:
        if rollout_id != self._rollout:
            self.reset()
            self._rollout = rollout_id
        wanted = {r.key: r for r in requests}
        for key, request in wanted.items():
            if key not in self._states:
                self._start(rollout_id, request, templates[request.template])
        for key in [k for k in self._tasks if k not in wanted]:
            self._tasks.pop(key).cancel()  # no longer needed: the step moved on

    def observe(self) -> dict[str, AnalysisObs]:
        return dict(self._states)

    def reset(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        self._states.clear()
        self._rollout = None

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self.reset()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _start(self, rollout_id: int, request: AnalysisRequest, template: AnalysisTemplate) -> None:
        self._store.start_run(rollout_id, request.key, request.template, now=self._wall())
        self._events.add(
            "analysis",
            f"analysis {request.template!r} ({request.key}) started: revision {request.canary}"
            + (f" against {request.baseline}" if request.baseline is not None else ""),
            rollout_id=rollout_id,
        )
        runner = self._factory(request, template, self._recorder(rollout_id, request))
        self._states[request.key] = AnalysisObs(RunState.RUNNING)
        self._tasks[request.key] = asyncio.create_task(self._run(rollout_id, request, runner))

    def _recorder(self, rollout_id: int, request: AnalysisRequest) -> Callable[[Measurement], None]:
        def record(m: Measurement) -> None:
            self._store.add_measurement(
                rollout_id,
                request.key,
                metric=m.metric,
                outcome=m.outcome.value,
                value=m.value,
                message=m.message,
                now=m.at,
            )
            self._on_measurement(request, m)
            if m.outcome is not Outcome.PASSED:
                self._events.add(
                    "analysis",
                    f"{request.template}/{m.metric} {m.outcome.value}: {m.message}",
                    rollout_id=rollout_id,
                )

        return record

    async def _run(self, rollout_id: int, request: AnalysisRequest, runner: RunHandle) -> None:
        try:
            status = _state(await runner.run())
            summary = runner.summary
        except asyncio.CancelledError:
            self._store.end_run(
                rollout_id, request.key, status="stopped", summary="", now=self._wall()
            )
            raise
        except Exception as exc:  # a provider bug must fail the run, not the agent
            status, summary = RunState.ERROR, f"analysis crashed: {type(exc).__name__}: {exc}"
        self._tasks.pop(request.key, None)
        self._states[request.key] = AnalysisObs(status, summary)
        self._store.end_run(
            rollout_id, request.key, status=status.value, summary=summary, now=self._wall()
        )
        self._events.add(
            "analysis",
            f"analysis {request.template!r} ({request.key}) {status.value}"
            + (f": {summary}" if summary else ""),
            rollout_id=rollout_id,
        )
        self._on_change()


def _state(status: Any) -> RunState:
    try:
        return RunState(getattr(status, "value", status))
    except ValueError:  # a run that ended some other way gives no verdict to act on
        return RunState.ERROR
