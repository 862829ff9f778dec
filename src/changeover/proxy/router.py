"""Pure revision chooser: smooth weighted round-robin (the nginx algorithm).

Invariant: deterministic and side-effect free apart from its own counters. While the
set of eligible revisions stays the same, every run of `sum(weights)` consecutive picks
starting from a fresh router (or a multiple of that) gives each revision exactly its
weight, and at any prefix each revision stays within a small bound (below the number
of revisions) of its exact share. Revisions not in `available`, unlisted, or with
weight 0 are never chosen.
No sockets, clocks or asyncio: this module is unit-tested in isolation.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


class WeightedRouter:
    """Chooses a revision in proportion to integer weights, interleaving picks smoothly."""

    __slots__ = ("_current", "_weights")

    def __init__(self, weights: Mapping[int, int]) -> None:
        for revision, weight in weights.items():
            if weight < 0:
                raise ValueError(f"weight for revision {revision} must be >= 0, got {weight}")
        # Sorted so ties always go to the same revision: the sequence is reproducible.
        self._weights = {rev: w for rev, w in sorted(weights.items()) if w > 0}
        self._current = dict.fromkeys(self._weights, 0)

    @property
    def weights(self) -> dict[int, int]:
        return dict(self._weights)

    def choose(self, available: Collection[int]) -> int | None:
        """Pick one revision among `available` (those with a routable endpoint), or None."""
        current = self._current
        total = 0
        best: int | None = None
        best_score = 0
        for revision, weight in self._weights.items():
            if revision not in available:
                continue  # frozen: it resumes its place in the sequence when it returns
            score = current[revision] + weight
            current[revision] = score
            total += weight
            if best is None or score > best_score:
                best, best_score = revision, score
        if best is not None:
            current[best] = best_score - total
        return best
