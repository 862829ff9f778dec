"""Analysis templates: builtin queries as PromQL on the router's metrics, conditions that
leave no data inconclusive, and the flags ConfigMap."""

from __future__ import annotations

import json

import pytest

from changeover.k8s.analysis import conditions, go_duration
from changeover.k8s.flags import DIGEST_ANNOTATION, FlagsError, document
from changeover.k8s.options import Options, Router
from changeover.k8s.queries import promql
from changeover.k8s.render import render
from changeover.spec.models import Metric
from changeover.spec.strategy import StrategyName
from tests.core.k8s.kit import example, spec_of
from tests.core.k8s.specs import RICH


def test_success_rate_counts_5xx_and_needs_min_requests() -> None:
    query = promql(Router.NGINX, "success_rate", "60s", 10)
    assert query.startswith("(1 - ((sum(rate(nginx_ingress_controller_requests{")
    assert 'status=~"5.."' in query
    assert "or on() vector(0)" in query  # no 5xx series is a rate of 0, not no data
    assert query.endswith('service="{{args.canary-service}}"}[60s])) >= 10')


def test_compared_queries_need_stable_requests_too() -> None:
    query = promql(Router.ISTIO, "latency_p95_ratio", "60s", None)
    assert "istio_request_duration_milliseconds_bucket" in query
    assert " / 1000)" in query  # Istio's milliseconds as seconds
    assert 'reporter="source"' in query
    assert query.count("histogram_quantile(0.95") == 2
    assert ">= 1 and on()" in query  # min_requests defaults to 1, as the agent's
    assert query.endswith('destination_service_name="{{args.stable-service}}"}[60s])) > 0')
    assert query.count(", 0.005)") == 2  # both latencies clamped to the default floor


def test_a_latency_ratio_takes_the_metric_floor() -> None:
    query = promql(Router.NGINX, "latency_p99_ratio", "60s", None, 0.02)
    assert query.startswith("(clamp_min((histogram_quantile(0.99")
    assert query.count(", 0.02)") == 2


def test_request_rate_with_min_requests_0_has_no_guard() -> None:
    assert " and on() " not in promql(Router.NGINX, "request_rate", "60s", 0)


def test_neither_condition_holds_on_no_data() -> None:
    metric = Metric(name="m", provider="builtin", query="success_rate", min=0.99, max=1)
    success, failure = conditions(metric, vector=True)
    assert success == "len(result) > 0 && result[0] >= 0.99 && result[0] <= 1"
    assert failure == "len(result) > 0 && (result[0] < 0.99 || result[0] > 1)"
    web = Metric(name="w", provider="web", url="http://x/")
    assert conditions(web, vector=False) == ("result == true", "result == false")


def test_durations_are_go_durations() -> None:
    assert go_duration(2) == "2s"
    assert go_duration(0.25) == "250ms"
    assert go_duration(3600) == "3600s"


def test_template_timing_follows_the_agent() -> None:
    rendering = render(spec_of(RICH), Options(rollouts=True, router=Router.ISTIO))
    (slo,) = [m.body for m in rendering.manifests if m.name == "shop-api-v2-slo"]
    first = slo["spec"]["metrics"][0]
    assert first["interval"] == "30s"
    assert first["count"] == 4
    assert first["initialDelay"] == "40s"  # initial_delay 10s + one interval of traffic
    assert (first["failureLimit"], first["inconclusiveLimit"]) == (1, 2)
    assert first["consecutiveErrorLimit"] == 3
    (background,) = [m.body for m in rendering.manifests if m.name.endswith("-background")]
    assert "count" not in background["spec"]["metrics"][0]
    (external,) = [m.body for m in rendering.manifests if m.name == "shop-api-v2-external"]
    providers = [m["provider"] for m in external["spec"]["metrics"]]
    assert providers == [
        {"prometheus": {"address": "http://prometheus:9090", "query": "max(up)"}},
        {"web": {"url": "http://status.internal/api", "jsonPath": "{$.checks[0].ok}"}},
    ]
    assert "args" not in external["spec"]  # no builtin metric: nothing to pass


def test_a_builtin_window_is_never_shorter_than_two_scrapes() -> None:
    rendering = render(example(), Options(rollouts=True, strategy=StrategyName.CANARY))
    (slo,) = [m.body for m in rendering.manifests if m.name == "hello-slo"]
    assert "[60s]" in slo["spec"]["metrics"][0]["provider"]["prometheus"]["query"]


def test_flags_become_a_configmap_the_client_reads() -> None:
    doc = document({"name": "checkout", "enabled": True, "strategies": []}, "f.toml")
    assert doc["version"] == 2
    rendering = render(example(), Options(flags=doc))
    config_map = rendering.manifests[0]
    assert (config_map.kind, config_map.name) == ("ConfigMap", "hello-flags")
    served = json.loads(config_map.body["data"]["flags.json"])
    assert served["features"][0]["name"] == "checkout"
    pod = rendering.manifests[1].body["spec"]["template"]
    assert DIGEST_ANNOTATION in pod["metadata"]["annotations"]
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CHANGEOVER_FLAGS_FILE"] == "/etc/changeover/flags/flags.json"
    assert container["volumeMounts"][0]["mountPath"] == "/etc/changeover/flags"


def test_a_flag_file_the_client_could_not_load_is_refused() -> None:
    with pytest.raises(FlagsError) as caught:
        document({"name": "x", "enabled": "yes", "colour": 1}, "f.toml")
    assert all(line.startswith("f.toml: ") for line in caught.value.lines)
    with pytest.raises(FlagsError, match="expected one flag"):
        document({"nothing": 1}, "f.toml")
