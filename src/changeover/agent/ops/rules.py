"""The Prometheus rule file for one service (`changeover alerts rules`): five alerts over
the metrics `ops.collector` exports.

Invariant: rendering is pure (service, environment and two durations in, YAML text out)
and every expression selects the service's own series by their `service` and
`environment` labels, so one Prometheus can hold the rules of many services. Every alert
carries `service` (and `environment`), which is what `[guard] alert_labels` matches by
default; those that report rather than act (a failed rollout, an agent gone quiet)
carry `changeover_action="notify"`, so the agent records them and never rolls back on
them (`ops.alerts`). Per-revision alerts carry `revision`, so an alert about one revision
never rolls back a rollout to another.

The YAML is written by hand (strings as JSON, which YAML reads; expressions as literal
blocks): the shape is fixed and a YAML library would be one more dependency for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from changeover.agent.ops.webhook import ACTION_LABEL, NOTIFY_ONLY
from changeover.units import format_duration

BY = "service, environment, revision, version"  # what per-revision alerts keep
ERROR_RATIO = 0.05
LATENCY_FACTOR = 2
LATENCY_FLOOR = 0.005  # seconds, as analysis's default latency-ratio floor
BASELINE_WINDOWS = 12  # the stable revision's p95 is measured over this many windows


@dataclass(frozen=True)
class Rule:
    alert: str
    expr: str
    hold: float  # `for`, seconds
    severity: str
    summary: str
    runbook: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    service: str
    environment: str | None = None
    window: float = 300.0  # rate() range, seconds; at least four scrape intervals
    hold: float = 120.0  # how long a condition must hold before it fires, seconds

    @property
    def selector(self) -> str:
        environment = json.dumps(self.environment or "")
        return f"service={json.dumps(self.service)},environment={environment}"

    @property
    def labels(self) -> dict[str, str]:
        out = {"service": self.service}
        if self.environment:
            out["environment"] = self.environment
        return out


def rules(t: Target) -> list[Rule]:
    sel, w = t.selector, format_duration(t.window)
    baseline = format_duration(t.window * BASELINE_WINDOWS)
    count = "http_server_request_duration_seconds_count"
    bucket = "http_server_request_duration_seconds_bucket"
    where = "Revision {{ $labels.revision }} ({{ $labels.version }}) of {{ $labels.service }}"
    return [
        Rule(
            "ChangeoverHighErrorRatio",
            f'sum by ({BY}) (rate({count}{{{sel},status_class="5xx"}}[{w}]))\n'
            f"/\nsum by ({BY}) (rate({count}{{{sel}}}[{w}]))\n> {ERROR_RATIO}",
            t.hold,
            "page",
            f"{where} answers {{{{ $value | humanizePercentage }}}} of its requests with 5xx",
            "More than 5% of this revision's answers are server errors. In a rollout or its "
            "guard window the agent rolls it back on this alert; otherwise run `changeover "
            "status` and `changeover logs`, and `changeover undo` to go back to the previous "
            "revision.",
        ),
        Rule(
            "ChangeoverSlowRevision",
            f"histogram_quantile(0.95, sum by ({BY}, le) (rate({bucket}{{{sel}}}[{w}])))\n"
            f"> {LATENCY_FACTOR} * scalar(histogram_quantile(0.95, sum by (le) (\n"
            f"  rate({bucket}{{{sel}}}[{baseline}])\n"
            f'  * on (revision) group_left () changeover_revision_info{{{sel},status="stable"}}\n'
            f")))\n"
            # below the floor, a p95 moves with the machine's load, not the release (as
            # analysis's latency ratios): twice a sub-5ms stable p95 is no regression
            f"and\nhistogram_quantile(0.95, sum by ({BY}, le) (rate({bucket}{{{sel}}}[{w}])))\n"
            f"> {LATENCY_FACTOR * LATENCY_FLOOR:g}",
            t.hold,
            "page",
            f"{where} has a p95 latency of {{{{ $value | humanizeDuration }}}}, more than twice "
            "the stable revision's",
            "The 95th percentile of this revision's latency is over twice the stable "
            f"revision's (measured over {baseline}). In a rollout or its guard window the "
            "agent rolls it back on this alert; otherwise compare the revisions with "
            "`changeover status` and `changeover history --diff`, and `changeover undo`.",
        ),
        Rule(
            "ChangeoverCrashLooping",
            f"sum by ({BY}) (increase(changeover_replica_restarts_total{{{sel}}}[{w}]))\n"
            f"> clamp_min(0.5 * sum by ({BY}) "
            f'(changeover_replicas{{{sel},state!="exited"}}), 1)',
            t.hold,
            "page",
            f"{where}: its replicas restarted {{{{ $value }}}} times in {w}",
            "More restarts than half the revision's replicas in the window: its processes "
            "keep crashing. Read why with `changeover logs REPLICA` (replica ids in "
            "`changeover status`); in a rollout or its guard window the agent rolls back.",
        ),
        Rule(
            "ChangeoverRolloutFailed",
            f'increase(changeover_rollouts_total{{{sel},outcome=~"rolled-back|failed"}}[{w}]) > 0',
            0.0,
            "ticket",
            "A rollout of {{ $labels.service }} failed",
            "A rollout ended failed: rolled back (the previous revision serves) or, past its "
            "rollback deadline, with the revision that served more kept. `changeover history` "
            "says why; fix the release and deploy again, or `changeover retry`.",
            {ACTION_LABEL: NOTIFY_ONLY},
        ),
        Rule(
            "ChangeoverAgentDown",
            f"absent_over_time(changeover_agent_info{{{sel}}}[{w}])",
            t.hold,
            "page",
            "The changeover agent of {{ $labels.service }} stopped reporting",
            "Prometheus has had no metrics from the agent for the whole window: the agent is "
            "down or its [ops] listener unreachable. Without the agent, replicas keep "
            "serving but nothing supervises them: check `changeover status` (exit 3 means "
            "no agent) and `systemctl status`, then `changeover up`.",
            {ACTION_LABEL: NOTIFY_ONLY},
        ),
    ]


def render(t: Target) -> str:
    where = f"service {t.service!r}" + (f", environment {t.environment!r}" if t.environment else "")
    group = "-".join(["changeover", t.service, *([t.environment] if t.environment else [])])
    lines = [
        f"# Prometheus alerting rules for {where}, written by `changeover alerts rules`.",
        f"# Rates over {format_duration(t.window)}; conditions hold "
        f"{format_duration(t.hold)} before they fire.",
        "# Load with `rule_files:` in prometheus.yml; check with `promtool check rules`.",
        "groups:",
        f"  - name: {json.dumps(group)}",
        "    rules:",
    ]
    for rule in rules(t):
        lines += _rule(rule, {**t.labels, **rule.labels})
    return "\n".join(lines) + "\n"


def _rule(rule: Rule, labels: dict[str, str]) -> list[str]:
    out = [f"      - alert: {rule.alert}", "        expr: |"]
    out += [f"          {line}" for line in rule.expr.splitlines()]
    out.append(f"        for: {format_duration(rule.hold)}")
    out.append("        labels:")
    for name, value in {"severity": rule.severity, **labels}.items():
        out.append(f"          {name}: {json.dumps(value)}")
    out.append("        annotations:")
    out.append(f"          summary: {json.dumps(rule.summary)}")
    out.append(f"          runbook: {json.dumps(rule.runbook)}")
    return out
