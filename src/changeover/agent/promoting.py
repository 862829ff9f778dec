"""Promotions carried out: a held release artifact promoted here through its gates, or
the release this environment ran before rolled out again (`rollback_release`). The
documents and the rollback's choice are `promotions`' (pure); this is the I/O around
them, on the agent's own deploy path (its checks and its start of a rollout).

Invariant: a promotion is recorded before its rollout starts and linked (with its event)
right after, so no rollout of a promotion is ever without its record; a refused request
(a bad spec, unmet checks, a rollout in progress) leaves no record it made behind; one
promotion request is decided, and started, at a time (`Agent._promoting`; a rollback
has no gates to wait for).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from changeover.agent import schema
from changeover.agent.artifacts import Held
from changeover.agent.controller import Busy
from changeover.agent.gates import GateResult, passed
from changeover.agent.peer import Peer
from changeover.agent.promotions import PromotionRequest, rollback_target, started_message
from changeover.agent.releases import BadRequest, release_request
from changeover.store import Rollout
from changeover.store.promotions import Promotion, PromotionKind

if TYPE_CHECKING:
    from changeover.agent.core import Agent

ROLLBACK_SCAN = 1000  # promotions a rollback looks back through, newest first
UNKNOWN_PEER = "unknown"  # who asked, when the connection is no unix socket


@dataclasses.dataclass(frozen=True)
class Promoted:
    """What a promotion request came to: its record, its gates, and its rollout if the
    gates let it start (None: it waits)."""

    promotion: Promotion
    gates: list[GateResult]
    rollout: Rollout | None


async def promote(agent: Agent, request: PromotionRequest, peer: Peer | None) -> Promoted:
    """Promote a release artifact this agent holds: recorded as waiting for its gates
    (or found waiting already), evaluated, and rolled out once none is unmet."""
    async with agent._promoting:
        agent._ensure_idle()
        held = _held(agent, request.version, request.sha256)
        _check_request(agent, request, held)
        release_request(held, request.spec_file, agent.environment)  # bad spec: nothing kept
        promotion, new = _waiting_for(agent, request, held, peer)
        try:
            results = await agent.gatekeeper.decide(promotion, held.path, request.evidence)
            if not passed(results):
                return Promoted(agent.store.promotion(promotion.id), results, None)
            rollout, started = await _promote(
                agent,
                held,
                request.spec_file,
                kind="promote",
                from_environment=request.from_environment,
                hotfix=held.hotfix,
                peer=peer,
                record=promotion,
            )
        except (BadRequest, Busy):
            if new:
                agent.store.forget_promotion(promotion.id)  # refused: as if never asked
            raise
        return Promoted(started, results, rollout)


def _check_request(agent: Agent, request: PromotionRequest, held: Held) -> None:
    """The request must agree with this agent's spec and with the artifact itself."""
    source = agent.environment_settings().promote_from
    if request.from_environment != source:
        where = f"environment {agent.environment}" if agent.environment else "this agent"
        raise BadRequest(
            f"{where} promotes from {source or 'the build (no promote_from)'} in this "
            f"host's spec, not from {request.from_environment or 'the build'}: nothing changed"
        )
    if request.hotfix != held.hotfix:
        said = "is" if held.hotfix else "is not"
        raise BadRequest(
            f"release {held.version} {said} a hotfix by its own artifact (sha256 "
            f"{held.sha256[:12]}), whatever the request says: nothing changed"
        )


def _waiting_for(
    agent: Agent, request: PromotionRequest, held: Held, peer: Peer | None
) -> tuple[Promotion, bool]:
    """The promotion of this artifact waiting here, or a new one; whether it is new.
    Asking again keeps its requester, its approvals and its ticks."""
    found = agent.store.waiting_promotion(held.version, held.sha256)
    if found is not None:
        return found, False
    promotion = agent.store.record_promotion(
        version=held.version,
        sha256=held.sha256,
        environment=agent.environment or "",
        from_environment=request.from_environment,
        hotfix=held.hotfix,
        kind="promote",
        spec_file=request.spec_file,
        requested_by=peer.account if peer is not None else UNKNOWN_PEER,
        requested_uid=peer.uid if peer is not None else None,
        now=agent.wall(),
    )
    return promotion, True


async def rollback_release(agent: Agent, peer: Peer | None) -> tuple[Rollout, Promotion]:
    """Promote again the release this environment ran before its current one."""
    agent._ensure_idle()
    stable = agent._stable()
    target = rollback_target(agent.store.promotions(limit=ROLLBACK_SCAN), stable.id)
    if target is None:
        where = f"environment {agent.environment}" if agent.environment else "this agent"
        raise BadRequest(
            f"no earlier release to roll back to: {where} ran no other release "
            f"through a promotion (stable: revision {stable.id}, {stable.version})"
        )
    held = _held(agent, target.version, target.sha256)
    if target.revision is not None:  # the revision that ran this release here
        schema.check_move(agent, target.revision, False, f"rollback to release {target.version}")
    return await _promote(
        agent,
        held,
        target.spec_file,
        kind="rollback",
        from_environment=None,
        hotfix=held.hotfix,
        peer=peer,
    )


async def _promote(
    agent: Agent,
    held: Held,
    spec_file: str,
    *,
    kind: PromotionKind,
    from_environment: str | None,
    hotfix: bool,
    peer: Peer | None,
    record: Promotion | None = None,
) -> tuple[Rollout, Promotion]:
    """Deploy `held` as a promotion (`record`, whose gates passed, or a new record of a
    rollback): recorded before its rollout starts, linked (with its event) right after,
    so no rollout of a promotion is ever without its record."""
    spec, request = release_request(held, spec_file, agent.environment)
    # secrets and env files come from this host's service folder, never the artifact
    fields, name = await agent._release(spec, request, env_base=agent.spec_path.parent)
    agent._ensure_idle()
    promotion = record or agent.store.record_promotion(
        version=held.version,
        sha256=held.sha256,
        environment=agent.environment or "",
        from_environment=from_environment,
        hotfix=hotfix,
        kind=kind,
        spec_file=spec_file,
        requested_by=peer.account if peer is not None else UNKNOWN_PEER,
        requested_uid=peer.uid if peer is not None else None,
        now=agent.wall(),
    )
    try:
        rollout = agent._start_deploy(fields, name)
    except (BadRequest, Busy):
        if record is None:
            agent.store.forget_promotion(promotion.id)  # refused before anything started
        raise
    # the artifact's spec is what runs now: the keys pending are its, not an earlier
    # deploy's (a reload still reads the host's file, as the note then says)
    path = held.path / spec_file
    agent._note_pending(spec, rollout, f"not {path}", path)
    promotion, events = agent.store.link_promotion(
        promotion.id,
        revision=rollout.to_revision,
        rollout_id=rollout.id,
        message=started_message(promotion, rollout.id),
        now=agent.wall(),
    )
    agent.events.committed(events)
    return rollout, promotion


def _held(agent: Agent, version: str, sha256: str) -> Held:
    held = agent.artifacts.held(version)
    if held is None:
        raise BadRequest(
            f"release {version} is not held by this agent: upload it first "
            f"(PUT /v1/artifacts/{version}; `changeover release promote` does)"
        )
    if held.sha256 != sha256:
        raise BadRequest(
            f"release {version} is held here with sha256 {held.sha256}, not {sha256}: "
            "a version names one artifact"
        )
    return held
