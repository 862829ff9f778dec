"""The analysis run as a pure state machine: rounds of measurements in, a verdict out.

Invariant: the status changes only through `model.TABLE`, fed by `record` (a round, then
maybe an ending) and `stop` (an ending); it leaves RUNNING once, and a round after that is
refused by the table. The machine reads no clock (times are passed in).

Semantics (those of Argo Rollouts' AnalysisRun, with "no data is never a pass"):

- The first round is due at `started_at + initial_delay + interval`, because window-based
  metrics need one interval of traffic; each next round is due `interval` after the
  previous one was recorded. A non-background run takes `count` rounds in all.
- A round holds exactly one measurement per metric of the template.
- Per metric, counted over the whole run: more than `failure_limit` failed measurements
  ends the run FAILED; more than `inconclusive_limit` inconclusive ones ends it
  INCONCLUSIVE; more than `consecutive_error_limit` errors in a row ends it ERROR. The run
  ends at once, in the round that crosses the limit; if one round crosses several, FAILED
  wins over ERROR, which wins over INCONCLUSIVE. Errors never count as failures, and a
  measurement that is not an error resets its metric's run of errors.
- After `count` rounds (or on `stop`) the run is SUCCESSFUL only if every metric has at
  least one passed measurement; otherwise it is INCONCLUSIVE.
- `background=True` ignores `count`: a round is due every interval until `stop`, and the
  limits still apply, cumulatively.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from changeover.analysis.model import TABLE, IllegalUse, Measurement, Outcome, RunEvent, RunStatus

if TYPE_CHECKING:  # runtime import would cycle: spec.rules imports analysis.builtin
    from changeover.spec.models import AnalysisTemplate


@dataclass
class Tally:
    """What one metric has measured so far."""

    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    consecutive_errors: int = 0
    last: dict[Outcome, Measurement] = field(default_factory=dict)
    latest: Measurement | None = None

    def add(self, m: Measurement) -> None:
        self.counts[m.outcome] += 1
        self.consecutive_errors = self.consecutive_errors + 1 if m.outcome is Outcome.ERROR else 0
        self.last[m.outcome] = m
        self.latest = m


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class AnalysisRun:
    """Rounds of measurements of one template, judged as the module docstring says."""

    def __init__(
        self, template: AnalysisTemplate, started_at: float, *, background: bool = False
    ) -> None:
        names = [m.name for m in template.metrics]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"metric names must be unique in a template; repeated: {dupes}")
        self.template = template
        self.background = background
        self._names = names
        self._tallies = {name: Tally() for name in names}
        self._measurements: list[Measurement] = []
        self._rounds = 0
        self._status = RunStatus.RUNNING
        self._summary = ""
        self._due = started_at + template.initial_delay + template.interval

    @property
    def status(self) -> RunStatus:
        return self._status

    @property
    def rounds(self) -> int:
        return self._rounds

    @property
    def measurements(self) -> tuple[Measurement, ...]:
        return tuple(self._measurements)

    @property
    def tallies(self) -> dict[str, Tally]:
        return dict(self._tallies)

    @property
    def summary(self) -> str:
        if self._status.terminal:
            return self._summary
        if self.background:
            return f"running in the background: {_plural(self._rounds, 'round')} done"
        return f"running: {self._rounds} of {_plural(self.template.count, 'round')} done"

    def next_due(self) -> float | None:
        """Monotonic time the next round is due, or None once the run has ended."""
        return None if self._status.terminal else self._due

    def record(self, measurements: Sequence[Measurement], now: float) -> None:
        """Take one round (one measurement per metric) recorded at monotonic time `now`."""
        self._status = TABLE.transition(self._status, RunEvent.ROUND_RECORDED)
        got = [m.metric for m in measurements]
        if sorted(got) != sorted(self._names):
            raise IllegalUse(f"a round needs one measurement per metric {self._names}; got {got}")
        if now < self._due:
            raise IllegalUse(f"round recorded at {now:.3f} before it was due at {self._due:.3f}")
        self._rounds += 1
        self._measurements += measurements
        for m in measurements:
            self._tallies[m.metric].add(m)
        self._due = now + self.template.interval
        if ended := self._limit_crossed():
            self._finish(*ended)
        elif not self.background and self._rounds >= self.template.count:
            self._finish(*self._verdict())

    def stop(self) -> RunStatus:
        """End a running run now, judged on the rounds so far; a no-op once ended."""
        if not self._status.terminal:
            self._finish(*self._verdict())
        return self._status

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self._status.value,
            "summary": self.summary,
            "rounds": self._rounds,
            "measurements": [m.to_dict() for m in self._measurements],
        }

    def _finish(self, event: RunEvent, summary: str) -> None:
        self._status = TABLE.transition(self._status, event)
        self._summary = summary

    def _limit_crossed(self) -> tuple[RunEvent, str] | None:
        t, e = self.template, RunEvent
        rules: list[tuple[RunEvent, Outcome, Callable[[Tally], int], int, str]] = [
            (e.FAILURE_LIMIT_CROSSED, Outcome.FAILED, lambda y: y.counts[Outcome.FAILED],
             t.failure_limit, "failed {n}"),
            (e.ERROR_LIMIT_CROSSED, Outcome.ERROR, lambda y: y.consecutive_errors,
             t.consecutive_error_limit, "had an error {n} in a row"),
            (e.INCONCLUSIVE_LIMIT_CROSSED, Outcome.INCONCLUSIVE,
             lambda y: y.counts[Outcome.INCONCLUSIVE],
             t.inconclusive_limit, "was inconclusive {n}"),
        ]  # fmt: skip
        for event, outcome, count, limit, verb in rules:
            for name in self._names:
                tally = self._tallies[name]
                if (n := count(tally)) > limit:
                    what = verb.format(n=_plural(n, "time"))
                    message = tally.last[outcome].message
                    return event, f'metric "{name}" {what} (limit {limit}): {message}'
        return None

    def _verdict(self) -> tuple[RunEvent, str]:
        for name in self._names:
            tally = self._tallies[name]
            if tally.counts[Outcome.PASSED] == 0:
                why = tally.latest.message if tally.latest else "no measurement was taken"
                return (
                    RunEvent.NOT_ALL_PASSED,
                    f'metric "{name}" never passed in {_plural(self._rounds, "round")}: {why}',
                )
        n = len(self._names)
        metrics = "the metric" if n == 1 else f"all {n} metrics"
        return RunEvent.ALL_PASSED, f"{metrics} passed in {_plural(self._rounds, 'round')}"
