"""The async layer around `AnalysisRun`: sleep until a round is due, sample, measure, record.

Invariant: the only effects are the injected ones (clock, wall, sleep, sample, http, the
command provider's processes), every round records exactly one measurement per metric,
and when `run` returns or is cancelled no task, process or HTTP client it started is
left running.

Flow: at start + initial_delay the first proxy sample is taken; each round then samples
again and measures every metric concurrently on the window since the previous sample,
records the round, calls `on_measurement` for each measurement, and repeats until the
run ends. `stop()` ends the run at the next wait (judged on the rounds so far). With
`baseline_history`, the baseline's window is everything it served up to the first
sample, the same for every round (a guard window: the baseline serves nothing then).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from changeover.analysis.model import IllegalUse, Measurement, RunStatus
from changeover.analysis.providers import DEFAULT_TIMEOUT, Context, check_template, measure
from changeover.analysis.run import AnalysisRun
from changeover.analysis.window import Window

if TYPE_CHECKING:  # runtime import would cycle: spec.rules imports analysis.builtin
    from changeover.spec.models import AnalysisTemplate


class Runner:
    """Runs one analysis template against the canary (and baseline) revision's traffic."""

    def __init__(
        self,
        name: str,
        template: AnalysisTemplate,
        *,
        canary: int,
        baseline: int | None,
        sample: Callable[[], Mapping[str, Any]],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        http: httpx.AsyncClient | None = None,
        workdir: str | Path = ".",
        env: Mapping[str, str] | None = None,
        on_measurement: Callable[[Measurement], None] | None = None,
        background: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        baseline_history: bool = False,
    ) -> None:
        check_template(template)
        self.name, self.template, self.canary, self.baseline = name, template, canary, baseline
        self._sample, self._clock, self._wall, self._sleep = sample, clock, wall, sleep
        self._http, self._workdir, self._timeout = http, workdir, timeout
        self._env = None if env is None else {**os.environ, **env}  # added to ours, as a shell does
        self._on_measurement = on_measurement
        self._run = AnalysisRun(template, clock(), background=background)
        self._history = baseline_history
        self._reference: Window | None = None  # the baseline's history, when it is used
        self._started = False
        self._stopped = asyncio.Event()

    @property
    def status(self) -> RunStatus:
        return self._run.status

    @property
    def summary(self) -> str:
        return self._run.summary

    @property
    def measurements(self) -> tuple[Measurement, ...]:
        return self._run.measurements

    @property
    def rounds(self) -> int:
        return self._run.rounds

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self._run.to_dict()}

    def stop(self) -> None:
        """Ask `run` to end at its next wait; the verdict covers the rounds taken so far."""
        self._stopped.set()

    async def run(self) -> RunStatus:
        """Measure round after round until the run ends; return its status."""
        if self._started:
            raise IllegalUse(f"analysis {self.name!r} was already run; make a new Runner")
        self._started = True
        start = self._clock()
        self._run = run = AnalysisRun(self.template, start, background=self._run.background)
        async with self._client() as http:
            if not await self._wait_until(start + self.template.initial_delay):
                return run.stop()
            then, before = self._clock(), self._sample()
            if self._history and self.baseline is not None:
                self._reference = Window.between(self.baseline, None, before, 0.0)
            while (due := run.next_due()) is not None:
                if not await self._wait_until(due):
                    return run.stop()
                now, after = self._clock(), self._sample()
                measurements = await self._round(http, before, after, now - then)
                run.record(measurements, self._clock())
                for m in measurements:
                    if self._on_measurement is not None:
                        self._on_measurement(m)
                then, before = now, after
        return run.status

    def _client(self) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient | None]:
        needs = any(m.provider in ("prometheus", "web") for m in self.template.metrics)
        if self._http is not None or not needs:
            return contextlib.nullcontext(self._http)
        return httpx.AsyncClient()

    async def _round(
        self,
        http: httpx.AsyncClient | None,
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        elapsed: float,
    ) -> list[Measurement]:
        canary = Window.between(self.canary, before, after, elapsed)
        baseline = self._reference
        if baseline is None and self.baseline is not None:
            baseline = Window.between(self.baseline, before, after, elapsed)
        context = Context(
            canary, baseline, self._wall(), http, self._workdir, self._env, self._timeout
        )
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(measure(m, context)) for m in self.template.metrics]
        return [task.result() for task in tasks]

    async def _wait_until(self, deadline: float) -> bool:
        """Sleep until `deadline` on the injected clock; False if `stop` came first."""
        while not self._stopped.is_set() and (left := deadline - self._clock()) > 0:
            sleeper = asyncio.ensure_future(self._sleep(left))
            stopper = asyncio.ensure_future(self._stopped.wait())
            try:
                await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (sleeper, stopper):
                    task.cancel()
                await asyncio.gather(sleeper, stopper, return_exceptions=True)
        return not self._stopped.is_set()
