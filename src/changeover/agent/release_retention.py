"""The agent's side of `[releases] keep`: gather what the pure decision reads
(`release_pruning`), remove what it lists, say so in one event per release.

Invariant: runs on the agent's loop with no await, so no promotion, undo or replica start
can slip between the decision and the removal; a removal that fails is a problem for the
round's warning, never an exception.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from changeover.agent.promotions import state
from changeover.agent.release_pruning import InUse, Received, removable
from changeover.supervisor.state import ReplicaState

if TYPE_CHECKING:
    from changeover.agent.core import Agent

log = logging.getLogger("changeover.retention")
PENDING = ("waiting", "rolling out")  # promotions that will still run their artifact
PROMOTIONS_SCANNED = 1000


def in_use(agent: Agent, keep: int) -> InUse:
    revisions = agent.store.revisions()  # newest first
    live = {i.revision for i in agent.supervisor.replicas() if i.state is not ReplicaState.EXITED}
    stable = agent.store.stable_revision()
    pending = [
        agent.artifacts.folder(p.version, p.sha256)
        for p in agent.store.promotions(limit=PROMOTIONS_SCANNED)
        if state(p) in PENDING
    ]
    return InUse.of(
        newest_revisions=[Path(r.path) for r in revisions[:keep]],
        with_replicas=[Path(r.path) for r in revisions if r.id in live],
        stable=None if stable is None else Path(stable.path),
        promotions=pending,
    )


def prune(agent: Agent) -> list[str]:
    """Remove the release folders `[releases] keep` lets go; the problems met."""
    keep = agent.spec.releases.keep
    held = {h.version: h for h in agent.artifacts.listing()}
    if len(held) <= keep:
        return []
    received = [Received(h.version, h.path, h.received_at) for h in held.values()]
    problems = []
    for gone in removable(received, keep, in_use(agent, keep)):
        try:
            agent.artifacts.remove(held[gone.version])
        except OSError as exc:
            problems.append(f"cannot remove release {gone.version}: {exc.strerror or exc}")
            continue
        message = (
            f"release {gone.version} removed from {gone.path.parent} ([releases] keep = "
            f"{keep}: older than the {keep} newest, and no revision in use runs it)"
        )
        log.info("%s", message)
        agent.events.add("agent", message)
    return problems
