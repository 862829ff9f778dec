"""Endpoint selection: weighted revision choice, then least in-flight.

Invariant: `pick` returns only routable, non-removed endpoints. The routing table is
rebuilt on membership changes (add/remove/routable), never per request, and ties in
load are broken by a rotating start so equal endpoints share traffic evenly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from changeover.proxy.endpoint import Endpoint
from changeover.proxy.router import WeightedRouter


class Balancer:
    __slots__ = ("_all", "_by_revision", "_router", "_turn")

    def __init__(self) -> None:
        self._all: list[Endpoint] = []
        self._by_revision: dict[int, list[Endpoint]] = {}
        self._router: WeightedRouter | None = None
        self._turn = 0

    def rebuild(self, endpoints: Iterable[Endpoint]) -> None:
        routable = [ep for ep in endpoints if ep.routable and not ep.removed]
        by_revision: dict[int, list[Endpoint]] = {}
        for ep in routable:
            by_revision.setdefault(ep.revision, []).append(ep)
        self._all = routable
        self._by_revision = by_revision

    def set_weights(self, weights: Mapping[int, int] | None) -> None:
        self._router = None if weights is None else WeightedRouter(weights)

    def pick(self) -> Endpoint | None:
        router = self._router
        if router is None:
            return self._least_loaded(self._all)
        revision = router.choose(self._by_revision)
        if revision is None:
            return None
        return self._least_loaded(self._by_revision[revision])

    def pick_retry(self, tried: list[Endpoint], revision: int) -> Endpoint | None:
        """Another endpoint after a connect failure: same revision first, then any allowed."""
        same = [ep for ep in self._by_revision.get(revision, ()) if ep not in tried]
        if same:
            return self._least_loaded(same)
        router = self._router
        allowed = self._all if router is None else self._weighted_endpoints(router)
        return self._least_loaded([ep for ep in allowed if ep not in tried])

    def _weighted_endpoints(self, router: WeightedRouter) -> list[Endpoint]:
        weights = router.weights
        return [ep for ep in self._all if weights.get(ep.revision, 0) > 0]

    def _least_loaded(self, endpoints: list[Endpoint]) -> Endpoint | None:
        count = len(endpoints)
        if count <= 1:
            return endpoints[0] if count else None
        self._turn = start = (self._turn + 1) % count
        best = endpoints[start]
        load = best.inflight
        for offset in range(1, count):
            ep = endpoints[(start + offset) % count]
            if ep.inflight < load:
                best, load = ep, ep.inflight
        return best
