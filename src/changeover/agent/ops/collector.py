"""The agent's Prometheus metrics, read from its live state when Prometheus scrapes.

Invariant: collecting only reads (the proxy's per-revision cells, the supervisor's
replicas, the store's revisions and latest rollout, the controller's active rollout, the
agent's `Tally`); the request path pays nothing for it, since the proxy counts as it
always has and every shape here is computed at scrape time. Every changeover series
carries `service` (and `environment` when the agent serves one), so the rules
`changeover alerts rules` writes select one service's series whatever the scrape job.
Revisions are exported while they matter: stable, in the active rollout, or running.

Names follow Prometheus' conventions (base units, `_total` counters) and, for the
request histogram and in-flight gauge, OpenTelemetry's HTTP server semantic conventions
(`http.server.request.duration`, `http.server.active_requests`). The histogram's bounds
are every second bound of the proxy's own (`histogram.BOUNDS`, 0.25 ms to 60 s, a factor
of about 1.41 apart): the proxy's buckets do not line up with OpenTelemetry's suggested
ones, and moving counts between buckets would invent data, so each exported bucket is an
exact count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from changeover import __version__
from changeover.agent.ops.tally import OUTCOMES
from changeover.histogram import BOUNDS
from changeover.proxy.metrics import RevisionStats
from changeover.supervisor.state import ReplicaState

if TYPE_CHECKING:
    from changeover.agent.core import Agent

EXPORTED = tuple(range(0, len(BOUNDS), 2))  # indices into BOUNDS; the last (60 s) included
LE = tuple(repr(BOUNDS[i]).removesuffix(".0") for i in EXPORTED)  # as Go writes a float


def buckets(counts: list[int]) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs at the exported bounds, then +Inf (every count)."""
    out, running, at = [], 0, 0
    for index, le in zip(EXPORTED, LE, strict=True):
        running += sum(counts[at : index + 1])
        at = index + 1
        out.append((le, float(running)))
    out.append(("+Inf", float(sum(counts))))
    return out


class OpsCollector(Collector):
    def __init__(self, agent: Agent, clock: Callable[[], float] = time.monotonic) -> None:
        self._agent = agent
        self._clock = clock
        self._base = {"service": agent.spec.app.name}
        if agent.environment:
            self._base["environment"] = agent.environment
        self._versions: dict[int, str] = {}

    def collect(self) -> Iterator[Metric]:
        revisions = self._revisions()
        yield from self._requests(revisions)
        yield from self._replicas(revisions)
        yield from self._rollouts(revisions)
        yield from self._analysis()
        yield from self._release_steps(revisions)
        yield from self._agent_families()

    # --- helpers ------------------------------------------------------------------------
    def _labels(self, *names: str) -> list[str]:
        return [*self._base, *names]

    def _values(self, *values: str) -> list[str]:
        return [*self._base.values(), *values]

    def _counter(self, name: str, doc: str, *labels: str) -> CounterMetricFamily:
        return CounterMetricFamily(name, doc, labels=self._labels(*labels))

    def _gauge(self, name: str, doc: str, *labels: str, unit: str = "") -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, labels=self._labels(*labels), unit=unit)

    def _version(self, revision: int) -> str:
        if revision not in self._versions:
            self._versions[revision] = self._agent.store.revision(revision).version
        return self._versions[revision]

    def _ids(self, revision: int) -> tuple[str, str]:
        return str(revision), self._version(revision)

    def _revisions(self) -> list[int]:
        """Stable, in the active rollout, or with replicas."""
        agent = self._agent
        wanted = {info.revision for info in agent.supervisor.replicas()}
        stable = agent.store.stable_revision()
        if stable is not None:
            wanted.add(stable.id)
        active = agent.controller.active
        if active is not None:
            wanted.update(active.revisions)
        return sorted(wanted)

    # --- the proxy ----------------------------------------------------------------------
    def _requests(self, revisions: list[int]) -> Iterator[Metric]:
        stats = self._agent.proxy.stats
        duration = HistogramMetricFamily(
            "http_server_request_duration_seconds",
            "Duration of HTTP requests through the proxy, from the request head received "
            "to the response fully sent (OpenTelemetry http.server.request.duration)",
            labels=self._labels("revision", "version", "status_class"),
        )
        active = self._gauge(
            "http_server_active_requests",
            "HTTP requests in flight through the proxy (open WebSocket tunnels are not)",
            "revision", "version",
        )  # fmt: skip
        aborted = self._counter(
            "changeover_proxy_aborted_requests",
            "Requests that ended without a complete response (client or replica went away)",
            "revision", "version",
        )  # fmt: skip
        errors = self._counter(
            "changeover_proxy_error_responses",
            "Responses the proxy answered itself: 502 (replica failed), 503 (no replica "
            "ready), 504 (replica too slow)",
            "revision", "version", "code",
        )  # fmt: skip
        for revision in revisions:
            rev = stats.revisions.get(revision) or RevisionStats()
            ids = self._ids(revision)
            for status_class, counts, total in rev.classes():
                duration.add_metric(self._values(*ids, status_class), buckets(counts), total)
            active.add_metric(self._values(*ids), rev.inflight)
            aborted.add_metric(self._values(*ids), rev.aborted)
            for code, n in sorted(rev.errors.items()):
                errors.add_metric(self._values(*ids, code), n)
        yield from (duration, active, aborted, errors)
        unrouted = self._counter(
            "changeover_proxy_unrouted_requests",
            "Requests answered 503 before any revision was chosen (nothing ready)",
        )
        unrouted.add_metric(self._values(), stats.unrouted)
        rejected = self._counter(
            "changeover_proxy_rejected_requests",
            "Malformed requests answered 400 or 408, never forwarded to a replica",
        )
        rejected.add_metric(self._values(), stats.rejected)
        sampled = self._gauge(
            "changeover_proxy_latency_sample_one_in",
            "One request in this many is in http_server_request_duration_seconds: 1 on the "
            "builtin proxy, the request log's sampling on the haproxy engine (log_sample)",
        )
        sample = self._agent.proxy.metrics().get("log_sample")
        sampled.add_metric(self._values(), float(sample["one_in"]) if sample else 1.0)
        yield from (unrouted, rejected, sampled)

    # --- the supervisor -----------------------------------------------------------------
    def _replicas(self, revisions: list[int]) -> Iterator[Metric]:
        replicas = self._agent.supervisor.replicas()
        states = self._gauge(
            "changeover_replicas", "Replicas per revision and state", "revision", "version", "state"
        )
        for revision in revisions:
            mine = [r.state for r in replicas if r.revision == revision]
            for state in ReplicaState:
                states.add_metric(
                    self._values(*self._ids(revision), state.value), mine.count(state)
                )
        restarts = self._counter(
            "changeover_replica_restarts",
            "Replica processes started again after they ended (crashes, failed boots)",
            "revision", "version",
        )  # fmt: skip
        totals = self._agent.tally.restarts.totals
        for revision in revisions:
            restarts.add_metric(self._values(*self._ids(revision)), totals.get(revision, 0))
        yield from (states, restarts)

    # --- rollouts -----------------------------------------------------------------------
    def _rollouts(self, revisions: list[int]) -> Iterator[Metric]:
        agent = self._agent
        info = self._gauge(
            "changeover_revision_info",
            "1 for each revision exported, with its version and status (stable, progressing, "
            "failed, superseded)",
            "revision", "version", "status",
        )  # fmt: skip
        for rev in agent.store.revisions():
            if rev.id in revisions:
                info.add_metric(self._values(*self._ids(rev.id), rev.status.value), 1)
        yield info
        yield from self._latest_rollout()
        outcomes = self._counter(
            "changeover_rollouts", "Rollouts ended since the agent started, by outcome", "outcome"
        )
        for outcome in OUTCOMES:
            outcomes.add_metric(self._values(outcome), agent.tally.outcomes[outcome])
        yield outcomes

    def _latest_rollout(self) -> Iterator[Metric]:
        agent = self._agent
        active = agent.controller.active
        if active is not None:
            rollout, phase = active.rollout, active.phase.value
        else:
            last = agent.store.rollouts(limit=1)
            if not last:
                return
            rollout, phase = last[0], last[0].phase.value
        info = self._gauge(
            "changeover_rollout_info",
            "1 for the active rollout, or the latest one: its phase, strategy and revisions",
            "rollout", "kind", "strategy", "phase", "from_revision", "to_revision",
        )  # fmt: skip
        source = "" if rollout.from_revision is None else str(rollout.from_revision)
        info.add_metric(
            self._values(str(rollout.id), rollout.kind.value, str(rollout.strategy), phase,
                         source, str(rollout.to_revision)),
            1,
        )  # fmt: skip
        yield info
        decision = active.decision if active is not None else None
        if decision is not None and decision.guard is not None:
            left = self._gauge(
                "changeover_guard_remaining",
                "Seconds left in the guard window of the active rollout",
                "rollout",
                unit="seconds",
            )
            remaining = max(0.0, decision.guard.ends_at - agent.clock())
            left.add_metric(self._values(str(rollout.id)), remaining)
            yield left

    # --- analysis, flags, alerts, the agent ---------------------------------------------
    def _analysis(self) -> Iterator[Metric]:
        tally = self._agent.tally
        counted = self._counter(
            "changeover_analysis_measurements",
            "Analysis measurements, by template, metric and outcome (passed, failed, "
            "inconclusive, error)",
            "template", "metric", "outcome",
        )  # fmt: skip
        for (template, metric, outcome), n in sorted(tally.measurements.items()):
            counted.add_metric(self._values(template, metric, outcome), n)
        latest = self._gauge(
            "changeover_analysis_value",
            "The latest value each analysis metric measured, by run (step-N, background, "
            "pre-promotion, post-promotion, guard)",
            "run", "template", "metric",
        )  # fmt: skip
        for (run, template, metric), value in sorted(tally.values.items()):
            latest.add_metric(self._values(run, template, metric), value)
        yield from (counted, latest)

    # --- migrations and promotions ------------------------------------------------------
    def _release_steps(self, revisions: list[int]) -> Iterator[Metric]:
        store = self._agent.store
        schema = self._gauge(
            "changeover_schema_state",
            "1 for each revision's database schema state (expanding, expanded, contracted, "
            "rolled-back, ... ) and the last migration step; revisions with a step only",
            "revision", "version", "state", "step",
        )  # fmt: skip
        for revision in revisions:
            record = store.schema_record(revision)
            if record is not None:
                schema.add_metric(
                    self._values(*self._ids(revision), record.state.value, record.step.value), 1
                )
        promotions = self._gauge(
            "changeover_promotions",
            "Promotions into this environment among the last 100, by state (waiting, started, "
            "rejected, superseded, ...)",
            "state",
        )
        states: dict[str, int] = {}
        for promotion in store.promotions(limit=100):
            states[promotion.state] = states.get(promotion.state, 0) + 1
        for state, n in sorted(states.items()):
            promotions.add_metric(self._values(state), n)
        yield from (schema, promotions)

    def _agent_families(self) -> Iterator[Metric]:
        agent, tally = self._agent, self._agent.tally
        info = self._gauge(
            "changeover_agent_info", "1, with the agent's changeover version", "changeover_version"
        )
        info.add_metric(self._values(__version__), 1)
        started = self._gauge(
            "changeover_agent_start_time", "When the agent started (Unix time)", unit="seconds"
        )
        started.add_metric(self._values(), agent.started_at)
        flags = self._counter(
            "changeover_flag_changes", "Feature flag changes stored (each flag changed is one)"
        )
        flags.add_metric(self._values(), tally.events.get("flags", 0))
        events = self._counter("changeover_events", "Events recorded, by kind", "kind")
        for kind, n in sorted(tally.events.items()):
            events.add_metric(self._values(kind), n)
        alerts = self._counter(
            "changeover_alerts_received",
            "Alerts from Alertmanager's webhook, by decision (rolled-back, recorded, ignored, "
            "resolved, repeat)",
            "decision",
        )
        for decision, n in sorted(tally.alerts.items()):
            alerts.add_metric(self._values(decision), n)
        yield from (info, started, flags, events, alerts)


def registry(agent: Agent) -> CollectorRegistry:
    """The agent's metrics, with the process's own (CPU, memory, fds, Python's GC)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(OpsCollector(agent))
    ProcessCollector(registry=reg)
    PlatformCollector(registry=reg)
    GCCollector(registry=reg)
    return reg
