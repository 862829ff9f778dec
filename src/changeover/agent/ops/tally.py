"""Counters the agent keeps for its metrics, where no existing counter outlives its subject.

Invariant: every count only grows while the agent lives (Prometheus counters; a new agent
starts from zero, which `rate` reads as a reset). Restarts are summed per revision from
the supervisor's per-replica counts, remembering each replica's last count, so a replica
that is removed keeps its restarts in its revision's total. Nothing here is on the
request path: the controller feeds it once per tick, the rest once per event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from changeover.supervisor.model import ReplicaInfo

# how a rollout ended, as notifications name it (a failed rollout that rolled back is
# "rolled-back"; one whose rollback gave up is "failed")
OUTCOMES = ("succeeded", "rolled-back", "failed", "aborted", "interrupted")


class RestartTally:
    """Replica restarts per revision, including those of replicas gone since."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}  # replica id -> restarts counted
        self.totals: Counter[int] = Counter()

    def update(self, replicas: Iterable[ReplicaInfo]) -> None:
        current = set()
        for info in replicas:
            current.add(info.id)
            before = self._seen.get(info.id)
            if before is None:  # a replica adopted from another agent brings its count
                self.totals[info.revision] += 0  # the series exists from zero
                self._seen[info.id] = info.restarts
                continue
            if info.restarts > before:
                self.totals[info.revision] += info.restarts - before
                self._seen[info.id] = info.restarts
        for gone in self._seen.keys() - current:
            del self._seen[gone]  # its restarts stay in its revision's total

    def snapshot(self) -> dict[str, int]:
        """As analysis samples carry them (`analysis.window`): revision (text) -> count."""
        return {str(rev): n for rev, n in sorted(self.totals.items())}


@dataclass
class Tally:
    """Everything the metrics count that the agent does not keep elsewhere."""

    restarts: RestartTally = field(default_factory=RestartTally)
    outcomes: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(OUTCOMES, 0)))
    # (template, metric, outcome) -> measurements
    measurements: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    # (run key, template, metric) -> latest value
    values: dict[tuple[str, str, str], float] = field(default_factory=dict)
    events: Counter[str] = field(default_factory=Counter)  # event kind -> events
    alerts: Counter[str] = field(default_factory=Counter)  # webhook decision -> alerts

    def outcome(self, kind: str) -> None:
        self.outcomes[kind] += 1

    def measured(
        self, key: str, template: str, metric: str, outcome: str, value: float | None
    ) -> None:
        self.measurements[template, metric, outcome] += 1
        if value is not None:
            self.values[key, template, metric] = value

    def counted(self, kinds: Mapping[str, int]) -> None:
        self.events.update(kinds)
