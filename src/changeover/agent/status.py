"""The `status --json` and `history --json` documents (a stable, documented contract).

Invariant: these functions only read; every field they emit is listed in
docs/cli-json.md, and renaming one is a breaking change. Why a rollout is paused comes
from the strategy's latest decision (`Decision.hold`), typed, never from event text.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from changeover import __version__
from changeover.agent import revdiff
from changeover.agent.controller import Active
from changeover.agent.core import Agent
from changeover.agent.migration_docs import schema_doc
from changeover.agent.strategies import canary_steps
from changeover.rollout.decision import Decision, GuardView, Hold
from changeover.rollout.phase import Phase
from changeover.rollout.steps import describe_step
from changeover.spec.strategy import StrategyName
from changeover.store import Event, Revision, Rollout
from changeover.supervisor.supervisor import ReplicaInfo
from changeover.tlsfiles import Pair, expiry

ACTIVE_STATUSES = ("stable", "progressing")


def status_document(agent: Agent, events: int = 15) -> dict[str, Any]:
    metrics = agent.proxy.metrics()
    per_rev = metrics.get("revisions", {})
    replicas = agent.supervisor.replicas()
    stable = agent.store.stable_revision()
    active = agent.controller.active
    rollout = active.rollout if active else _last_rollout(agent)
    shown = {r.revision for r in replicas} | ({stable.id} if stable else set())
    revisions = [
        {
            **revision_doc(rev, per_rev.get(str(rev.id)), replicas),
            "schema": schema_doc(agent.store.schema_record(rev.id)),  # its migration step
        }
        for rev in agent.store.revisions()
        if rev.id in shown or rev.status in ACTIVE_STATUSES
    ]
    host, port = agent.proxy.address
    return {
        "service": agent.spec.app.name,
        "agent": {
            "pid": os.getpid(),
            "version": __version__,
            "listen": f"{host}:{port}",
            "engine": agent.proxy.engine_name,
            # the haproxy engine's request-log sampling (haproxy/sampling.py); null: builtin
            "log_sample": metrics.get("log_sample"),
            # the certificate new TLS handshakes get (`[proxy] tls`): never key material
            "tls": _tls(agent.proxy.certificate),
            "state_dir": str(agent.paths.root),
            "started_at": agent.started_at,
            "flags_listen": agent.flags_listen,
            "ops_listen": agent.ops_listen,
            "environment": agent.environment,
            # start-only keys the latest deploy changed, kept as they were until a reload
            "pending_reload": list(agent.pending_reload),
        },
        "stable_revision": stable.id if stable else None,
        "rollout": (active_rollout_doc(active, agent.clock()) if active else rollout_doc(rollout))
        if rollout
        else None,
        "revisions": revisions,
        "replicas": [replica_doc(r) for r in replicas],
        "weights": _weights(agent.traffic.current.weights),
        "traffic": traffic_doc(agent),
        "live": agent.live.view(sorted(shown)),
        "progress": progress_doc(agent, rollout, active.decision if active else None)
        if rollout
        else None,
        "unrouted": metrics.get("unrouted", 0),
        "events": [event_doc(e) for e in agent.store.events(after_id=_recent(agent, events))],
    }


def _tls(pair: Pair | None) -> dict[str, Any] | None:
    """The certificate new handshakes get, and what to say about its end (never key
    material); the wall clock, as the certificate's not-after is."""
    if pair is None:
        return None
    return {**pair.describe(), "warning": expiry(pair, datetime.now(UTC))}


def _weights(weights: Mapping[int, int] | None) -> dict[str, int] | None:
    return None if weights is None else {str(rev): w for rev, w in sorted(weights.items())}


def traffic_doc(agent: Agent) -> dict[str, Any]:
    t = agent.traffic.current
    route = t.header_route
    preview = agent.proxy.preview_address
    return {
        "weights": _weights(t.weights),
        "header_route": None
        if route is None
        else {**route.as_dict(), "revision": t.header_revision},
        "sticky": t.sticky,
        "preview_revision": t.preview,
        "preview_listen": None if preview is None else f"{preview[0]}:{preview[1]}",
        "warm": {
            str(rev): round(until - agent.clock(), 1)
            for rev, until in agent.controller.linger.items()
        },
    }


def progress_doc(agent: Agent, rollout: Rollout, decision: Decision | None) -> dict[str, Any]:
    """Steps, the current one, and every analysis run with its latest measurements."""
    spec = agent.revision_spec(rollout.to_revision)
    canary = rollout.strategy is StrategyName.CANARY
    steps = [describe_step(s) for s in canary_steps(spec)] if canary else []
    return {
        "steps": steps,
        "step": None if decision is None else decision.step,
        "analysis": analysis_runs(agent, rollout.id),
    }


def analysis_runs(agent: Agent, rollout_id: int, last: int = 12) -> list[dict[str, Any]]:
    """Every analysis run of a rollout with its `last` measurements (oldest first)."""
    runs = []
    measurements = agent.store.measurements(rollout_id)
    for run in agent.store.runs(rollout_id):
        mine = [m for m in measurements if m.run_key == run.key]
        runs.append(
            {
                "key": run.key,
                "template": run.template,
                "status": run.status,
                "summary": run.summary,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "measurements": [
                    {
                        "metric": m.metric,
                        "outcome": m.outcome,
                        "value": m.value,
                        "message": m.message,
                        "ts": m.ts,
                    }
                    for m in mine[-last:]
                ],
            }
        )
    return runs


def _last_rollout(agent: Agent) -> Rollout | None:
    rollouts = agent.store.rollouts(limit=1)
    return rollouts[0] if rollouts else None


def _recent(agent: Agent, count: int) -> int:
    return max(0, agent.store.last_event_id() - count)


def revision_doc(
    rev: Revision, metrics: dict[str, Any] | None, replicas: list[ReplicaInfo]
) -> dict[str, Any]:
    mine = [r for r in replicas if r.revision == rev.id]
    return {
        "revision": rev.id,
        "version": rev.version,
        "status": rev.status.value,
        "replicas": rev.replicas,
        "ready": sum(1 for r in mine if r.state.routable),
        "created_at": rev.created_at,
        "metrics": metrics,
    }


def active_rollout_doc(active: Active, now: float) -> dict[str, Any]:
    """The active rollout with its live phase and, while paused, why (`paused`); in its
    guard window, the window (`guard`; `now` on the agent's clock gives what is left)."""
    decision = active.decision  # None before the first tick; a pause sent since has none yet
    hold = decision.hold if decision is not None and active.phase is Phase.PAUSED else None
    guard = decision.guard if decision is not None and active.phase is Phase.GUARDING else None
    doc = rollout_doc(active.rollout, phase=active.phase.value, hold=hold)
    doc["guard"] = None if guard is None else guard_doc(guard, now)
    return doc


def guard_doc(guard: GuardView, now: float | None) -> dict[str, Any]:
    remaining = None if now is None else round(max(0.0, guard.ends_at - now), 1)
    return {
        "window": guard.window,
        "remaining": remaining,
        "analysis": guard.analysis,
        "state": guard.state.value,
        "message": guard.message,
    }


def rollout_doc(
    rollout: Rollout, phase: str | None = None, hold: Hold | None = None
) -> dict[str, Any]:
    return {
        "id": rollout.id,
        "kind": rollout.kind.value,
        "strategy": rollout.strategy,
        "from_revision": rollout.from_revision,
        "to_revision": rollout.to_revision,
        "phase": phase or rollout.phase.value,
        "reason": rollout.reason,
        "started_at": rollout.started_at,
        "finished_at": rollout.finished_at,
        "paused": None if hold is None else pause_doc(hold),
        "guard": None,
    }


def pause_doc(hold: Hold) -> dict[str, Any]:
    return {
        "by": hold.by.value,
        "continue": [command.value for command in hold.proceed],
        "message": hold.message,
    }


def replica_doc(info: ReplicaInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "revision": info.revision,
        "version": info.version,
        "state": info.state.value,
        "pid": info.pid,
        "port": info.port,
        "restarts": info.restarts,
        "last_error": info.last_error,
    }


def event_doc(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "ts": event.ts,
        "kind": event.kind,
        "rollout_id": event.rollout_id,
        "revision": event.revision,
        "message": event.message,
    }


def history_document(agent: Agent) -> dict[str, Any]:
    revisions = agent.store.revisions()  # newest first
    older = {r.id: prev for r, prev in itertools.pairwise(revisions)}
    return {
        "stable_revision": (s.id if (s := agent.store.stable_revision()) else None),
        "revisions": [
            {
                **_release_doc(r),
                "status": r.status.value,
                "created_at": r.created_at,
                "source_revision": r.source_revision,
                "changes": [c.describe() for c in revdiff.notable(_changes(older.get(r.id), r))],
                "schema": schema_doc(agent.store.schema_record(r.id)),
            }
            for r in revisions
        ],
        "rollouts": [rollout_doc(r) for r in agent.store.rollouts(limit=100)],
    }


def diff_document(agent: Agent, old_id: int, new_id: int) -> dict[str, Any]:
    """Every difference from revision `old_id` to `new_id`, spec included."""
    old, new = agent.store.revision(old_id), agent.store.revision(new_id)
    return {
        "from": old_id,
        "to": new_id,
        "changes": [
            {"path": c.path, "old": c.old, "new": c.new, "text": c.describe()}
            for c in _changes(old, new)
        ],
    }


def _release_doc(r: Revision) -> dict[str, Any]:
    return {
        "revision": r.id,
        "version": r.version,
        "path": r.path,
        "command": r.command,
        "env": r.env,
        "replicas": r.replicas,
    }


def _changes(old: Revision | None, new: Revision) -> list[revdiff.Change]:
    if old is None:
        return []
    return revdiff.changes(
        {**_release_doc(old), "spec": old.spec}, {**_release_doc(new), "spec": new.spec}
    )
