"""Pure revision choice for one request: header routes, then sticky users, then WRR.

Invariant: given the revisions with a routable endpoint (`available`: revision -> count
of routable endpoints) and the request's headers, `choose` returns
  1. the revision of the first header route that matches and is available; else
  2. for a request carrying the sticky key, the revision owning the key's bucket in
     [0, BUCKETS), where the weighted revisions are laid out as consecutive intervals,
     newest first, each sized by its share of the weight. The bucket comes from a
     stable, unsalted hash (CRC-32, the one HAProxy's `crc32` converter computes, so the
     haproxy engine gives each user the same bucket), so with weights fixed a user always
     lands on the same revision, and a user inside the newest revision's interval stays inside it as
     that revision's share grows (monotone canary). An unavailable owner falls through;
  3. else the smooth weighted round-robin (exact proportions), or None.
With weights None, `share` returns None for "no preference: any routable endpoint", and
sticky users are laid out by routable endpoint counts instead of weights.
The request's headers are read only when the policy has routes or a sticky key.
No sockets, clocks or asyncio.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from zlib import crc32

from changeover.proxy.policy import Headers, TrafficPolicy
from changeover.proxy.router import WeightedRouter

BUCKETS = 10_000
BUCKET_CACHE = 8192  # sticky keys whose bucket is remembered (a user sends many requests)

Layout = tuple[list[int], list[int]]  # revisions newest first, exclusive upper bucket bounds


def sticky_bucket(key: bytes) -> int:
    """Stable across processes and runs (unlike the salted built-in hash), and equal to
    HAProxy's `crc32,mod(BUCKETS)` (haproxy/routes.py): a user keeps a bucket when the
    engine changes."""
    return crc32(key) % BUCKETS


def layout(weights: Mapping[int, int]) -> Layout:
    """Consecutive bucket intervals, newest revision first, sized by share of the weight."""
    order = sorted((rev for rev, w in weights.items() if w > 0), reverse=True)
    total = sum(weights[rev] for rev in order)
    bounds: list[int] = []
    running = 0
    for rev in order:
        running += weights[rev]
        bounds.append(running * BUCKETS // total)  # integer maths: no float drift at edges
    return order, bounds


def owner(plan: Layout, bucket: int) -> int | None:
    order, bounds = plan
    index = bisect_right(bounds, bucket)
    return order[index] if index < len(order) else None


class Chooser:
    """Stateful only through the round-robin counters and a bounded memo of sticky
    buckets (results of the pure `sticky_bucket`); rebuilt when the policy changes."""

    __slots__ = ("_buckets", "_layout", "_routes", "_sticky", "policy", "router")

    def __init__(self, policy: TrafficPolicy) -> None:
        self.policy = policy
        self._routes = policy.header_routes
        self._sticky = policy.sticky
        weights = policy.weights
        self.router = None if weights is None else WeightedRouter(weights)
        self._layout = layout(weights) if weights is not None else None
        self._buckets: dict[bytes, int] = {}  # key -> sticky_bucket(key), bounded

    def bucket(self, key: bytes) -> int:
        """`sticky_bucket(key)`, remembered: hashing costs more than a dict lookup."""
        buckets = self._buckets
        found = buckets.get(key)
        if found is None:
            if len(buckets) >= BUCKET_CACHE:
                buckets.clear()  # simple bound; a miss only costs one hash
            found = buckets[key] = sticky_bucket(key)
        return found

    @property
    def weighted(self) -> bool:
        return self.router is not None

    def shares(self, revision: int) -> bool:
        """Whether unrouted traffic may go to `revision` (a positive weight, or no weights)."""
        weights = self.policy.weights
        return weights is None or weights.get(revision, 0) > 0

    def choose(self, available: Mapping[int, int], headers: Headers) -> int | None:
        revision = self.route(available, headers)
        return revision if revision is not None else self.share(available, headers)

    def route(self, available: Mapping[int, int], headers: Headers) -> int | None:
        """The first header route that matches and has a routable endpoint, or None."""
        for route in self._routes:
            if route.revision in available and route.matches(headers):
                return route.revision
        return None

    def share(self, available: Mapping[int, int], headers: Headers) -> int | None:
        """Sticky bucket if the request has a key, else weighted round-robin."""
        sticky = self._sticky
        if sticky is not None:
            key = sticky.key(headers)
            if key is not None:
                plan = self._layout if self._layout is not None else layout(available)
                revision = owner(plan, self.bucket(key))
                if revision is not None and revision in available:
                    return revision
        router = self.router
        return None if router is None else router.choose(available)
