"""Promotions of release artifacts: the request, which release a rollback returns to, and
the documents the API answers with. Pure: the agent (`promoting`) does the I/O.

Invariant: a promotion's state is one of waiting (for its gates, `agent.gates`),
rolling out, done (its rollout ended: `outcome` says how), rejected or superseded, read
from its record and its rollout's live phase, never stored twice. A rollback has no
gates. A rollback returns to the release this environment ran before the one it runs
now: the newest promotion whose rollout succeeded with another artifact than the stable
revision's (a `deploy` that is no promotion counts as an artifact of its own), so two
rollbacks in a row toggle back, as `undo` does; a release whose promotion failed or never
started never ran, and is never chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from changeover.agent.artifact_format import SHA256, VERSION
from changeover.agent.evidence import SoakEvidence
from changeover.store.gates import Approval, ChecklistEntry
from changeover.store.promotions import Promotion

SUCCEEDED = "succeeded"
ENDED = frozenset({"succeeded", "failed", "aborted", "interrupted"})


class PromotionRequest(BaseModel):
    """Body of POST /v1/promotions: which artifact (held here) to roll out."""

    model_config = ConfigDict(extra="forbid")
    version: str = Field(pattern=VERSION.pattern)
    sha256: str = Field(pattern=SHA256.pattern)
    from_environment: str | None = Field(default=None, max_length=32)
    hotfix: bool = False
    # the spec's file name in the artifact (`-f` when it was created)
    spec_file: str = Field(default="changeover.toml", pattern=r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
    # what the source environment's agent said of this release (`release promote` fetches
    # it there); read by the soak gate, kept with the promotion (docs/environments.md)
    evidence: SoakEvidence | None = None


class VerdictRequest(BaseModel):
    """Body of POST /v1/releases/V/approve and /reject: no identity, only words."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=500)


class TickRequest(BaseModel):
    """Body of POST /v1/releases/V/check: the manual checklist item ticked."""

    model_config = ConfigDict(extra="forbid")
    item: str = Field(min_length=1, max_length=80)


class FreezeRequest(BaseModel):
    """Body of POST /v1/freezes: until an instant, or for a duration (the agent's clock)."""

    model_config = ConfigDict(extra="forbid")
    until: float | None = None
    seconds: float | None = Field(default=None, gt=0)
    reason: str = Field(min_length=1, max_length=500)


def rollback_target(promotions: Sequence[Promotion], stable: int | None) -> Promotion | None:
    """The promotion whose artifact a rollback rolls out again (`promotions` newest first,
    `stable` the stable revision), or None when this environment ran no other release."""
    ran = [p for p in promotions if p.phase == SUCCEEDED]
    current = next((p for p in ran if p.revision == stable), None)
    now = None if current is None else (current.version, current.sha256)
    return next((p for p in ran if (p.version, p.sha256) != now and p.revision != stable), None)


def outcome(promotion: Promotion) -> str:
    """Its rollout's phase; `not started` for one without a rollout."""
    return promotion.phase or "not started"


def state(promotion: Promotion) -> str:
    """waiting, rolling out, done, rejected or superseded."""
    if promotion.state != "started":
        return promotion.state
    return "done" if promotion.phase is None or promotion.phase in ENDED else "rolling out"


def promotion_doc(promotion: Promotion, stable: int | None) -> dict[str, Any]:
    return {
        "id": promotion.id,
        "kind": promotion.kind,
        "version": promotion.version,
        "sha256": promotion.sha256,
        "environment": promotion.environment or None,
        "from_environment": promotion.from_environment,
        "hotfix": promotion.hotfix,
        "requested_by": promotion.requested_by,
        "requested_uid": promotion.requested_uid,
        "requested_at": promotion.requested_at,
        "revision": promotion.revision,
        "rollout_id": promotion.rollout_id,
        "state": state(promotion),
        "state_at": promotion.state_at,
        "outcome": outcome(promotion),
        "current": promotion.revision is not None and promotion.revision == stable,
    }


def gated_doc(
    promotion: Promotion,
    stable: int | None,
    gates: list[dict[str, Any]] | None,
    approvals: Sequence[Approval],
    checklist: Sequence[ChecklistEntry],
) -> dict[str, Any]:
    """The promotion document with its gates (evaluated now while it waits, as last
    evaluated otherwise), its approvals, checklist entries and soak evidence."""
    return {
        **promotion_doc(promotion, stable),
        "gates": gates,
        "approvals": [
            {"verdict": a.verdict, "by": a.by, "uid": a.uid, "note": a.note, "at": a.at}
            for a in approvals
        ],
        "checklist": [
            {
                "item": c.item,
                "kind": c.kind,
                "ok": c.ok,
                "detail": c.detail,
                "by": c.by,
                "at": c.at,
            }
            for c in checklist
        ],
        "evidence": promotion.evidence,
    }


def started_message(promotion: Promotion, rollout_id: int) -> str:
    """The `promotion` event of a rollout a promotion started."""
    what = "rollback to" if promotion.kind == "rollback" else "promotion of"
    origin = f" from {promotion.from_environment}" if promotion.from_environment else ""
    hotfix = " (HOTFIX)" if promotion.hotfix else ""
    return (
        f"{what} {promotion.version}{hotfix} (sha256 {promotion.sha256[:12]}){origin}, "
        f"asked by {promotion.requested_by}: rollout {rollout_id}"
    )
