"""Promotions of release artifacts: the request, which release a rollback returns to, and
the documents the API answers with. Pure: the agent (`core.Agent.promote`) does the I/O.

Invariant: a promotion to an environment whose settings list gates is refused, since
this agent does not evaluate gates yet (never a gate silently skipped; a rollback has
none). A rollback returns to the release this environment ran before the one it runs
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
from changeover.spec.environments import EnvironmentSettings
from changeover.store.promotions import Promotion

SUCCEEDED = "succeeded"


class PromotionRequest(BaseModel):
    """Body of POST /v1/promotions: which artifact (held here) to roll out."""

    model_config = ConfigDict(extra="forbid")
    version: str = Field(pattern=VERSION.pattern)
    sha256: str = Field(pattern=SHA256.pattern)
    from_environment: str | None = Field(default=None, max_length=32)
    hotfix: bool = False
    # the spec's file name in the artifact (`-f` when it was created)
    spec_file: str = Field(default="changeover.toml", pattern=r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def rollback_target(promotions: Sequence[Promotion], stable: int | None) -> Promotion | None:
    """The promotion whose artifact a rollback rolls out again (`promotions` newest first,
    `stable` the stable revision), or None when this environment ran no other release."""
    ran = [p for p in promotions if p.phase == SUCCEEDED]
    current = next((p for p in ran if p.revision == stable), None)
    now = None if current is None else (current.version, current.sha256)
    return next((p for p in ran if (p.version, p.sha256) != now and p.revision != stable), None)


def configured_gates(settings: EnvironmentSettings | None) -> list[str]:
    """The gates an environment's own settings (the host's spec, never the artifact's)
    ask for, by name."""
    if settings is None:
        return []
    asked = {
        "soak": bool(settings.soak or settings.soak_requests or settings.soak_analysis),
        "approvals": settings.approvals > 0,
        "windows": bool(settings.windows),
        "checklist": bool(settings.checklist),
    }
    return [name for name, on in asked.items() if on]


def outcome(promotion: Promotion) -> str:
    """Its rollout's phase; `not started` for one the agent stopped before its rollout."""
    return promotion.phase or "not started"


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
        "outcome": outcome(promotion),
        "current": promotion.revision is not None and promotion.revision == stable,
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
