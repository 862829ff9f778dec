"""Scale arithmetic of a rolling update, as pure functions of replica counts.

Each progressing step, with N target replicas, surge S and unavailability U:

    excess = max(0, min(old_ready, avail - (N - U)))
    stable = old_ready - excess            # not-READY stable replicas go outright
    target = min(N, max(new_live, N + S - stable))

and once the target alone has N available, stable = 0. Invariants (assuming the
supervisor removes replicas in `observe.removal_order`, not-READY ones first):

* Availability (available replicas of both revisions) never drops below
  ``min(before, N - U)``: removing a not-READY replica costs nothing, and each of the
  ``excess`` READY ones costs at most one, with excess <= avail - (N - U).
* Live replicas never exceed ``max(before, N + S)``: the target only grows into the
  room left after this same step's stable scale-down, so with S = 0 the stable
  shrinks first and the target fills the freed slot in the same decision.
* Rollback keeps every READY target replica until the stable revision is fully
  available again, so traffic always has somewhere to go; surge is not bounded then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from changeover.rollout.observe import RevisionObs, available, live, ready, revision_obs


@dataclass(frozen=True)
class Counts:
    old_live: int
    old_ready: int
    old_avail: int
    new_live: int
    new_ready: int
    new_avail: int

    @property
    def avail(self) -> int:
        return self.old_avail + self.new_avail


def count(
    obs: Mapping[int, RevisionObs], stable: int | None, target: int, now: float, min_ready: float
) -> Counts:
    old = revision_obs(obs, stable) if stable is not None else RevisionObs(-1)
    new = revision_obs(obs, target)
    return Counts(
        old_live=live(old),
        old_ready=ready(old),
        old_avail=available(old, now, min_ready),
        new_live=live(new),
        new_ready=ready(new),
        new_avail=available(new, now, min_ready),
    )


def plan_progress(c: Counts, n: int, max_surge: int, max_unavailable: int) -> tuple[int, int]:
    """Desired (stable, target) live counts for one step of a progressing update."""
    if c.new_avail >= n:
        # the target alone is fully available: the rest of the stable is surplus
        return 0, n
    excess = max(0, min(c.old_ready, c.avail - (n - max_unavailable)))
    old = c.old_ready - excess  # not-READY stable replicas are dropped outright
    new = min(n, max(c.new_live, n + max_surge - old))
    return old, new


def plan_rollback(c: Counts, stable_replicas: int, hold: int) -> tuple[int, int]:
    """Desired (stable, target) counts while rolling back; `hold` caps the target."""
    if c.old_avail >= stable_replicas:
        return stable_replicas, 0
    return stable_replicas, min(hold, c.new_ready)
