"""Which release folders an agent may remove (`[releases] keep`): a pure decision.

Invariant: a folder is removed only when it is none of the `keep` newest releases this
agent received, and nothing may still need it: no revision among the `keep` newest, none
with a replica, not the stable revision, no promotion that waits for its gates or rolls
out. Paths compare as the agent wrote them (absolute, under its state folder). What the
decision lists, the retention task removes record first (so a half-removed
folder is never held) and folder second.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Received:
    """A held release, as the decision needs it."""

    version: str
    path: Path
    received_at: float


@dataclass(frozen=True)
class InUse:
    """The folders something may still run from, and why (for the tests and the log)."""

    paths: frozenset[Path]

    @classmethod
    def of(
        cls,
        newest_revisions: Iterable[Path],
        with_replicas: Iterable[Path],
        stable: Path | None,
        promotions: Iterable[Path],
    ) -> InUse:
        found = {*newest_revisions, *with_replicas, *promotions}
        if stable is not None:
            found.add(stable)
        return cls(frozenset(found))


def removable(held: Sequence[Received], keep: int, in_use: InUse) -> list[Received]:
    """The releases to remove: older than the `keep` newest received, and not in use;
    oldest first."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    newest_first = sorted(held, key=lambda r: (r.received_at, r.version), reverse=True)
    older = newest_first[keep:]
    return [r for r in reversed(older) if r.path not in in_use.paths]
