"""Carrying a strategy's traffic decision to the proxy, and the live per-revision view.

Invariant: the proxy's policy is replaced only when the decided `Traffic` differs from
the last one applied, so a tick that decides the same thing never touches the data
plane; the live view is computed from proxy snapshots alone (no per-request work).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from changeover.agent.engine import Engine
from changeover.analysis.window import Window
from changeover.proxy.policy import HeaderRoute, Sticky, TrafficPolicy
from changeover.rollout.decision import Traffic

WINDOW = 10.0  # seconds the live view averages over


def policy_for(traffic: Traffic) -> TrafficPolicy:
    routes: tuple[HeaderRoute, ...] = ()
    route = traffic.header_route
    if route is not None and traffic.header_revision is not None:
        routes = (
            HeaderRoute(
                header=route.header,
                revision=traffic.header_revision,
                value=route.value,
                prefix=route.prefix,
                regex=route.regex,
            ),
        )
    sticky = Sticky.parse(traffic.sticky) if traffic.sticky else None
    weights = None if traffic.weights is None else dict(traffic.weights)
    return TrafficPolicy(weights=weights, header_routes=routes, sticky=sticky)


class TrafficApplier:
    """Sets the proxy's policy and preview revision when, and only when, they change."""

    def __init__(self, proxy: Engine) -> None:
        self._proxy = proxy
        self._last: Traffic | None = None
        self.current = Traffic()

    def apply(self, traffic: Traffic) -> bool:
        if traffic == self._last:
            return False
        self._proxy.set_traffic(policy_for(traffic))
        self._proxy.set_preview(traffic.preview)
        self._last = self.current = traffic
        return True


class LiveTraffic:
    """Samples proxy metrics and answers rate, success and latency over the last WINDOW s."""

    def __init__(self, sample: Callable[[], dict[str, Any]], clock: Callable[[], float]) -> None:
        self._sample = sample
        self._clock = clock
        self._samples: deque[tuple[float, dict[str, Any]]] = deque()

    def tick(self) -> dict[str, Any]:
        """Take a sample; it is returned for the dashboard's charts (`dashboard.series`)."""
        now = self._clock()
        sample = self._sample()
        self._samples.append((now, sample))
        while len(self._samples) > 2 and self._samples[1][0] <= now - WINDOW:
            self._samples.popleft()
        return sample

    def view(self, revisions: Iterable[int]) -> dict[str, dict[str, float | int | None]]:
        if len(self._samples) < 2:
            return {}
        (t0, first), (t1, last) = self._samples[0], self._samples[-1]
        out: dict[str, dict[str, float | int | None]] = {}
        for rev in revisions:
            w = Window.between(rev, first, last, t1 - t0)
            out[str(rev)] = {
                "window": round(t1 - t0, 3),
                "requests": w.requests,
                "request_rate": w.request_rate,
                "success_rate": w.success_rate,
                "latency_p95": w.latency(0.95),
                "latency_p99": w.latency(0.99),
            }
        return out
