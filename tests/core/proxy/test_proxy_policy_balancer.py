"""The balancer under a traffic policy, with plain Endpoint objects (no sockets)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from changeover.proxy.balancer import Balancer
from changeover.proxy.endpoint import Endpoint
from changeover.proxy.metrics import Metrics
from changeover.proxy.policy import HeaderRoute, Sticky, TrafficPolicy


class Untouchable(list[tuple[bytes, bytes]]):
    """Request headers that fail the test if anything reads them."""

    def __iter__(self) -> Any:
        raise AssertionError("the balancer read headers the policy does not need")

    def __len__(self) -> int:
        raise AssertionError("the balancer read headers the policy does not need")

    def __getitem__(self, index: Any) -> Any:
        raise AssertionError("the balancer read headers the policy does not need")


def balancer(*revisions: int) -> tuple[Balancer, list[Endpoint]]:
    metrics = Metrics()
    endpoints = []
    for n, revision in enumerate(revisions):
        endpoint = Endpoint(
            f"r{revision}-{n}", revision, "127.0.0.1", 1, metrics.revision(revision)
        )
        endpoint.routable = True
        endpoints.append(endpoint)
    bal = Balancer()
    bal.rebuild(endpoints)
    return bal, endpoints


def revisions(bal: Balancer, count: int, headers: list[tuple[bytes, bytes]]) -> Counter[int]:
    picked = Counter[int]()
    for _ in range(count):
        endpoint = bal.pick(headers)
        assert endpoint is not None
        picked[endpoint.revision] += 1
    return picked


def test_headers_are_not_read_unless_the_policy_needs_them() -> None:
    bal, _ = balancer(1, 1, 2)
    assert revisions(bal, 30, Untouchable()) == {1: 20, 2: 10}  # default: per endpoint
    bal.set_policy(TrafficPolicy({1: 3, 2: 1}))
    assert not bal.routes
    assert revisions(bal, 40, Untouchable()) == {1: 30, 2: 10}
    bal.set_policy(TrafficPolicy({1: 1}, sticky=Sticky("cookie", "sid")))
    assert revisions(bal, 3, [(b"Cookie", b"sid=a")]) == {1: 3}


def test_routed_pick_only_for_a_matching_available_route() -> None:
    bal, _ = balancer(1, 2)
    bal.set_policy(TrafficPolicy({1: 100}, (HeaderRoute("X-C", 2, prefix="y"),)))
    assert bal.routes
    routed = bal.pick_routed([(b"x-c", b"yes")])
    assert routed is not None
    assert routed.revision == 2
    assert bal.pick_routed([(b"x-c", b"no")]) is None
    bal.set_policy(TrafficPolicy({1: 100}, (HeaderRoute("X-C", 3, prefix="y"),)))
    assert bal.pick_routed([(b"x-c", b"yes")]) is None  # revision 3 has no endpoint


def test_weighted_policy_without_an_available_revision_picks_nothing() -> None:
    bal, _ = balancer(1)
    bal.set_policy(TrafficPolicy({2: 100}))
    assert bal.pick([]) is None
    bal.set_policy(TrafficPolicy(header_routes=(HeaderRoute("X-C", 2, value="1"),)))
    endpoint = bal.pick([(b"X-C", b"1")])  # route unavailable, no weights: any endpoint
    assert endpoint is not None
    assert endpoint.revision == 1


def test_retry_stays_on_the_revision_when_pinned() -> None:
    bal, (one, two_a, two_b) = balancer(1, 2, 2)
    assert bal.pick_retry([two_a], 2, pinned=True) is two_b
    assert bal.pick_retry([two_a, two_b], 2, pinned=True) is None
    assert bal.pick_retry([two_a, two_b], 2, pinned=False) is one
    bal.set_policy(TrafficPolicy({1: 0, 2: 1}))
    assert bal.pick_retry([two_a, two_b], 2, pinned=False) is None  # weight 0: no share


def test_preview_pick_uses_only_the_preview_revision() -> None:
    bal, (_, two) = balancer(1, 2)
    assert bal.pick_preview() is None
    bal.preview = 2
    assert {bal.pick_preview() for _ in range(5)} == {two}
    bal.preview = 3
    assert bal.pick_preview() is None
    bal.set_policy(TrafficPolicy({1: 100}))
    bal.preview = 2
    assert bal.pick_preview() is two  # public weights never apply to the preview
