"""An environment's record of a release, as the notes show it: from the documents its
agent answers (the promotion, its rollout, the rollout's analysis runs, the release's
own evidence there) to a `versioning.evidence.Evidence` value. Pure.

Invariant: every value comes from an agent's answer, never from this machine: the
counts from that agent's proxy, the verdicts and measured values from its store, the
approvals with the account its connection was made by. A rollout that did not succeed
says how it ended and why; a gate skipped by a hotfix is named; a later move back off the
release (`release rollback`, `undo`) is one of its rollbacks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from changeover.versioning.evidence import (
    AnalysisVerdict,
    Approval,
    Evidence,
    GateNote,
    Measured,
    Rollback,
    Soak,
    Traffic,
)

ROLLED_BACK = {"failed": "failed, rolled back", "aborted": "aborted, rolled back"}


def instant(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def chosen(promotions: list[dict[str, Any]], sha256: str | None) -> dict[str, Any] | None:
    """The newest promotion (newest first, as the agent lists them) that started a
    rollout of this artifact (any artifact of the version when `sha256` is None)."""
    return next(
        (
            p
            for p in promotions
            if p.get("rollout_id") is not None and (sha256 is None or p.get("sha256") == sha256)
        ),
        None,
    )


def evidence_of(
    environment: str,
    promotion: dict[str, Any],
    rollout: dict[str, Any],
    analysis: list[dict[str, Any]],
    own: dict[str, Any] | None,
    later: tuple[Rollback, ...] = (),
) -> Evidence:
    """The evidence of one environment: `own` is its agent's GET /v1/releases/V/evidence
    (None when the release never became stable there); `later`, what took the
    environment back off it afterwards (`moved_back`)."""
    phase = str(rollout["phase"])
    gates = promotion.get("gates") or []
    return Evidence(
        environment=environment,
        deployed_at=instant(rollout["started_at"]),
        strategy=str(rollout["strategy"]),
        outcome=ROLLED_BACK.get(phase, phase),
        analyses=tuple(verdict(run) for run in analysis),
        traffic=during_rollout(own),
        since_stable=since_stable(own),
        soak=soak_of(promotion, gates),
        approvals=tuple(
            Approval(a["by"], instant(a["at"]))
            for a in promotion.get("approvals") or []
            if a.get("verdict") == "approve"
        ),
        rollbacks=rollbacks(rollout) + later,
        skipped_gates=tuple(name(g) for g in gates if g.get("state") == "skipped"),
        gates=tuple(GateNote(name(g), str(g["state"]), str(g.get("summary", ""))) for g in gates),
        promoted_from=promotion.get("from_environment"),
        requested_by=promotion.get("requested_by"),
    )


def name(gate: dict[str, Any]) -> str:
    return str(gate["gate"]) if gate.get("item") is None else f"{gate['gate']}: {gate['item']}"


def verdict(run: dict[str, Any]) -> AnalysisVerdict:
    """A run, with the latest measurement of each of its metrics (what it was judged on
    last), in the order the metrics were first measured."""
    latest: dict[str, dict[str, Any]] = {}
    for m in run.get("measurements") or []:
        latest[m["metric"]] = m
    first_seen = list(dict.fromkeys(m["metric"] for m in run.get("measurements") or []))
    key = run.get("key")
    title = str(run["template"]) + (f" ({key})" if key else "")
    return AnalysisVerdict(
        title,
        str(run["status"]),
        tuple(
            Measured(
                metric,
                str(latest[metric]["outcome"]),
                latest[metric].get("value"),
                str(latest[metric].get("message") or ""),
            )
            for metric in first_seen
        ),
    )


def during_rollout(own: dict[str, Any] | None) -> Traffic | None:
    if own is None or own.get("rollout_served") is None:
        return None
    return Traffic(int(own["rollout_served"]), int(own.get("rollout_failed") or 0))


def since_stable(own: dict[str, Any] | None) -> Traffic | None:
    if own is None or own.get("stable_since") is None:
        return None
    return Traffic(int(own["served"]), int(own["failed"]))


def soak_of(promotion: dict[str, Any], gates: list[dict[str, Any]]) -> Soak | None:
    """What the release met in the environment it was promoted from, as the promotion
    carried it (the source agent's evidence) and the soak gate judged it."""
    source = promotion.get("evidence")
    gate = next((g for g in gates if g.get("gate") == "soak"), None)
    if source is None or gate is None:
        return None
    since, until = source.get("stable_since"), source.get("stable_until")
    stable_for = 0.0 if since is None else max(0.0, (until or source["at"]) - since)
    where = source.get("environment") or promotion.get("from_environment") or "the source"
    state = gate.get("state")
    detail = f"in {where}, {int(source['failed']):,} failed"
    if state == "skipped":
        detail += "; skipped for a hotfix"
    return Soak(stable_for, int(source["served"]), state == "met", detail)


def rollbacks(rollout: dict[str, Any]) -> tuple[Rollback, ...]:
    if rollout["phase"] not in ROLLED_BACK or rollout.get("finished_at") is None:
        return ()
    return (Rollback(instant(rollout["finished_at"]), str(rollout.get("reason") or "no reason")),)


def moved_back(
    promotion: dict[str, Any], rollouts: list[dict[str, Any]], promotions: list[dict[str, Any]]
) -> tuple[Rollback, ...]:
    """The rollouts that took the environment back off the revision `promotion` ran the
    release as, after it: a `release rollback` (a promotion of kind rollback; any of
    `promotions`) or an `undo`, each that succeeded, oldest first. A later promotion of a
    newer release is no rollback."""
    revision, after = promotion.get("revision"), promotion.get("rollout_id")
    if revision is None or after is None:
        return ()
    back = {p["rollout_id"]: p for p in promotions if p.get("kind") == "rollback"}
    out = []
    for r in sorted(rollouts, key=lambda r: int(r["id"])):
        if r["id"] <= after or r["from_revision"] != revision or r["phase"] != "succeeded":
            continue
        if r.get("finished_at") is None:
            continue
        by_promotion = back.get(r["id"])
        if by_promotion is not None:
            who = by_promotion.get("requested_by")
            reason = f"release rollback to {by_promotion['version']}" + (
                f" by {who}" if who else ""
            )
        elif r["kind"] == "undo":
            reason = f"undo to revision {r['to_revision']}"
        else:
            continue
        out.append(Rollback(instant(r["finished_at"]), reason))
    return tuple(out)
