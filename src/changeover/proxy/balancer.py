"""Endpoint selection: a revision by traffic policy (or the preview), then least in-flight.

Invariant: every pick returns only routable, non-removed endpoints. A preview pick and a
header-routed pick stay on their revision, retries included; a shared pick retries only
onto revisions the policy lets share traffic. The routing table is rebuilt on
membership changes (add/remove/routable), never per request; the request's headers are
handed over by reference and read only when the policy needs them. Ties in load are
broken by a rotating start so equal endpoints share traffic evenly.
"""

from __future__ import annotations

from collections.abc import Iterable

from changeover.proxy.chooser import Chooser
from changeover.proxy.endpoint import Endpoint
from changeover.proxy.policy import Headers, TrafficPolicy
from changeover.proxy.router import WeightedRouter

_DEFAULT = TrafficPolicy()


class Balancer:
    __slots__ = (
        "_all",
        "_by_revision",
        "_chooser",
        "_counts",
        "_router",
        "_turn",
        "policy",
        "preview",
        "routes",
    )

    def __init__(self) -> None:
        self._all: list[Endpoint] = []
        self._by_revision: dict[int, list[Endpoint]] = {}
        self._counts: dict[int, int] = {}  # revision -> routable endpoints, for the chooser
        self._chooser: Chooser | None = None  # None: no weights, routes or sticky key
        self._router: WeightedRouter | None = None  # set only for weights-only policies
        self._turn = 0
        self.policy = _DEFAULT
        self.preview: int | None = None
        self.routes = False  # header routes exist: only then is `pick_routed` worth calling

    def rebuild(self, endpoints: Iterable[Endpoint]) -> None:
        routable = [ep for ep in endpoints if ep.routable and not ep.removed]
        by_revision: dict[int, list[Endpoint]] = {}
        for ep in routable:
            by_revision.setdefault(ep.revision, []).append(ep)
        self._all = routable
        self._by_revision = by_revision
        self._counts = {rev: len(eps) for rev, eps in by_revision.items()}

    def set_policy(self, policy: TrafficPolicy) -> None:
        self.policy = policy
        plain = policy.weights is None and not policy.reads_headers
        chooser = self._chooser = None if plain else Chooser(policy)
        self._router = None if chooser is None or policy.reads_headers else chooser.router
        self.routes = bool(policy.header_routes)

    def pick(self, headers: Headers) -> Endpoint | None:
        """Shared traffic: sticky key or weighted round-robin, else any routable endpoint."""
        router = self._router
        if router is not None:  # weights only (the common case): straight to round-robin
            revision = router.choose(self._counts)
            return None if revision is None else self._least_loaded(self._by_revision[revision])
        chooser = self._chooser
        if chooser is None:
            endpoints = self._all
            return endpoints[0] if len(endpoints) == 1 else self._least_loaded(endpoints)
        revision = chooser.share(self._counts, headers)
        if revision is None:
            return None if chooser.weighted else self._least_loaded(self._all)
        return self._least_loaded(self._by_revision[revision])

    def pick_routed(self, headers: Headers) -> Endpoint | None:
        """An endpoint of the first matching, available header route's revision, or None."""
        chooser = self._chooser
        revision = None if chooser is None else chooser.route(self._counts, headers)
        return None if revision is None else self._least_loaded(self._by_revision[revision])

    def pick_preview(self) -> Endpoint | None:
        revision = self.preview
        if revision is None:
            return None
        return self._least_loaded(self._by_revision.get(revision, []))

    def pick_retry(self, tried: list[Endpoint], revision: int, pinned: bool) -> Endpoint | None:
        """Another endpoint after a connect failure: same revision first, then (unless
        pinned to it) any revision the policy lets share traffic."""
        same = [ep for ep in self._by_revision.get(revision, ()) if ep not in tried]
        if same or pinned:
            return self._least_loaded(same)
        chooser = self._chooser
        allowed = self._all if chooser is None else self._shared(chooser)
        return self._least_loaded([ep for ep in allowed if ep not in tried])

    def _shared(self, chooser: Chooser) -> list[Endpoint]:
        return [ep for ep in self._all if chooser.shares(ep.revision)]

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
