"""What a rollback that ran out of time leaves serving: a pure rule on replica counts.

Invariant: giving up never scales to zero the only revision that serves. The revision
with more READY replicas at the deadline is kept (a tie keeps the stable, which is what
the rollback was for) and becomes, or stays, the stable revision; the other goes to
zero. A kept target keeps exactly the replicas that were ready (nothing new is started
for a revision that just failed); a kept stable keeps its full size, so the supervisor
goes on restarting what is missing. The message says what did not come back and what
serves now, for the rollout's reason, its event and the notification.
"""

from __future__ import annotations

from dataclasses import dataclass

from changeover.rollout.plan import Counts


@dataclass(frozen=True)
class GiveUp:
    kept: int  # the revision left serving, stable once the rollout ends
    scale: dict[int, int]  # the end state: the kept revision's size, the other at zero
    message: str  # "rollback deadline exceeded: ...", one line


def give_up(c: Counts, stable: int, target: int, restore: int, deadline: float) -> GiveUp:
    """The end state when `stable` is still short of `restore` available replicas."""
    gone = (
        f"rollback deadline exceeded: revision {stable} did not come back within "
        f"{deadline:g}s ({c.old_ready} of {restore} ready)"
    )
    if c.new_ready > c.old_ready:
        serving = (
            f"revision {target} keeps serving with {_replicas(c.new_ready)} and is now the "
            f"stable revision; revision {stable} is scaled to zero"
        )
        return GiveUp(target, {stable: 0, target: c.new_ready}, f"{gone}; {serving}")
    if c.old_ready == 0:
        serving = f"nothing is serving; revision {stable} stays stable and keeps restarting"
    else:
        serving = f"revision {stable} keeps serving, stays stable and keeps restarting the rest"
    if c.new_live:
        serving += f"; revision {target} ({c.new_ready} ready) is scaled to zero"
    return GiveUp(stable, {stable: restore, target: 0}, f"{gone}; {serving}")


def _replicas(n: int) -> str:
    return f"{n} ready replica" if n == 1 else f"{n} ready replicas"
