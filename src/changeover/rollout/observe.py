"""What a rollout machine sees of the replicas: frozen snapshots, counted purely.

Invariant: every count here is a pure function of the snapshot and `now`; nothing
reads a clock or the supervisor, so the same observation always gives the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from changeover.supervisor.state import ReplicaState


@dataclass(frozen=True)
class ReplicaObs:
    id: str  # e.g. "r3-2"
    state: ReplicaState
    ready_since: float | None  # monotonic time it last became READY; None if not ready
    boot_failures: int  # exits before becoming ready since its last ready period
    last_error: str = ""  # why its last process ended, for the failure reason


@dataclass(frozen=True)
class RevisionObs:
    revision: int
    replicas: tuple[ReplicaObs, ...] = ()  # every replica the supervisor has, any state


def revision_obs(obs: Mapping[int, RevisionObs], revision: int) -> RevisionObs:
    """The observation for `revision`, empty when the supervisor has none."""
    return obs.get(revision) or RevisionObs(revision)


def is_available(replica: ReplicaObs, now: float, min_ready: float) -> bool:
    if replica.state is not ReplicaState.READY or replica.ready_since is None:
        return False
    return replica.ready_since <= now - min_ready


def available(rev: RevisionObs, now: float, min_ready: float) -> int:
    """READY replicas that have stayed ready for at least `min_ready` seconds."""
    return sum(is_available(r, now, min_ready) for r in rev.replicas)


def live(rev: RevisionObs) -> int:
    """Replicas that are, or will again be, serving: not draining, stopping or exited."""
    return sum(not r.state.terminating for r in rev.replicas)


def ready(rev: RevisionObs) -> int:
    """Live replicas that are READY right now (available or still within min_ready)."""
    return sum(r.state is ReplicaState.READY for r in rev.replicas)


def removal_order(rev: RevisionObs) -> list[ReplicaObs]:
    """Live replicas in the order a scale-down must remove them.

    Not-READY replicas go first (they serve nothing), then READY ones newest first
    (the least likely to count as available yet). The rollout machines' availability
    guarantee rests on this order: a decision names the replicas to stop with it
    (`removals`), and the supervisor stops exactly those.
    """
    alive = [r for r in rev.replicas if not r.state.terminating]
    return sorted(alive, key=_removal_key)


def _removal_key(r: ReplicaObs) -> tuple[int, float, str]:
    if r.state is not ReplicaState.READY or r.ready_since is None:
        return (0, 0.0, r.id)
    return (1, -r.ready_since, r.id)


def removals(
    obs: Mapping[int, RevisionObs], scale: Mapping[int, int]
) -> dict[int, tuple[str, ...]]:
    """Per revision, the live replicas to stop to reach `scale`, in `removal_order`."""
    out: dict[int, tuple[str, ...]] = {}
    for revision, want in scale.items():
        alive = removal_order(revision_obs(obs, revision))
        if len(alive) > want:
            out[revision] = tuple(r.id for r in alive[: len(alive) - want])
    return out
