"""Builtin analysis queries as PromQL on the metrics the traffic router exports.

Invariant: each builtin query has the meaning the agent gives it (success and error rates
count 5xx answers, latencies are in seconds, ratios and differences compare the canary
with the stable revision), and a query returns no sample, which the analysis takes as
inconclusive, wherever the agent finds too little data: fewer canary requests than
`min_requests`, or no stable request to compare with. Never a pass on no data.

Service names and the namespace are AnalysisTemplate arguments (`{{args.NAME}}`), passed
by the Rollout, so one template serves canary steps, background and blue-green analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

from changeover.k8s.options import Router
from changeover.spec import queries

CANARY, STABLE, NAMESPACE = "canary-service", "stable-service", "namespace"
ARGS = (NAMESPACE, CANARY, STABLE)
_QUANTILES = {"p50": "0.5", "p90": "0.9", "p95": "0.95", "p99": "0.99"}


@dataclass(frozen=True)
class Series:
    """One router's request counter and latency histogram, and how they are labelled."""

    requests: str
    buckets: str
    status: str  # the label holding the HTTP status
    namespace: str  # the label holding the destination's namespace
    service: str  # the label holding the destination Service
    fixed: str = ""  # matchers every selector carries
    to_seconds: str = ""  # appended to a latency to make it seconds

    def selector(self, service_arg: str, extra: str = "") -> str:
        parts = [
            self.fixed,
            f'{self.namespace}="{{{{args.{NAMESPACE}}}}}"',
            f'{self.service}="{{{{args.{service_arg}}}}}"',
            extra,
        ]
        return ", ".join(p for p in parts if p)


SERIES = {
    # ingress-nginx's controller metrics: `namespace` and `service` name the backend
    Router.NGINX: Series(
        requests="nginx_ingress_controller_requests",
        buckets="nginx_ingress_controller_request_duration_seconds_bucket",
        status="status",
        namespace="namespace",
        service="service",
    ),
    # Istio's standard metrics, reported by the calling proxy (the gateway for users)
    Router.ISTIO: Series(
        requests="istio_requests_total",
        buckets="istio_request_duration_milliseconds_bucket",
        status="response_code",
        namespace="destination_service_namespace",
        service="destination_service_name",
        fixed='reporter="source"',
        to_seconds=" / 1000",
    ),
}


def promql(
    router: Router,
    query: str,
    window: str,
    min_requests: int | None,
    floor: float = queries.DEFAULT_FLOOR,
) -> str:
    """The PromQL of builtin `query` over `window` ("60s"); KeyError for router NONE.
    A latency ratio clamps both latencies to `floor` seconds first, as the agent does."""
    s = SERIES[router]
    value = _value(s, query, window, floor)
    need = 1 if min_requests is None else min_requests
    if need > 0:
        value += f" and on() {_count(s, CANARY, window)} >= {need}"
    if query in queries.COMPARED:
        value += f" and on() {_count(s, STABLE, window)} > 0"
    return value


def _value(s: Series, query: str, window: str, floor: float) -> str:
    if query == "request_rate":
        return _rate(s, CANARY, window)
    if query == "error_rate":
        return _error_rate(s, CANARY, window)
    if query == "success_rate":
        return f"(1 - {_error_rate(s, CANARY, window)})"
    if query == "error_rate_diff":
        return f"({_error_rate(s, CANARY, window)} - {_error_rate(s, STABLE, window)})"
    if query == "success_rate_diff":
        return f"({_error_rate(s, STABLE, window)} - {_error_rate(s, CANARY, window)})"
    name = query.removeprefix("latency_").removesuffix("_ratio")
    if query.endswith("_ratio"):
        canary, stable = _latency(s, name, CANARY, window), _latency(s, name, STABLE, window)
        return f"(clamp_min({canary}, {floor:g}) / clamp_min({stable}, {floor:g}))"
    return _latency(s, name, CANARY, window)


def _rate(s: Series, service: str, window: str, extra: str = "") -> str:
    return f"sum(rate({s.requests}{{{s.selector(service, extra)}}}[{window}]))"


def _error_rate(s: Series, service: str, window: str) -> str:
    errors = _rate(s, service, window, f'{s.status}=~"5.."')
    # no 5xx series at all is a rate of 0, not an absent sample
    return f"(({errors} or on() vector(0)) / {_rate(s, service, window)})"


def _latency(s: Series, percentile: str, service: str, window: str) -> str:
    q = _QUANTILES[percentile]
    buckets = f"{s.buckets}{{{s.selector(service)}}}"
    return f"(histogram_quantile({q}, sum by (le) (rate({buckets}[{window}]))){s.to_seconds})"


def _count(s: Series, service: str, window: str) -> str:
    return f"sum(increase({s.requests}{{{s.selector(service)}}}[{window}]))"
