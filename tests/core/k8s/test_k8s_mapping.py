"""What each spec key becomes, where it came from, and what is reported instead."""

from __future__ import annotations

from typing import Any

import pytest

from changeover.k8s import unmapped
from changeover.k8s.names import dns_label
from changeover.k8s.options import KubeVersion, Options, Router
from changeover.k8s.render import Rendering, render
from changeover.spec import models
from changeover.spec.strategy import StrategyName
from tests.core.k8s.kit import example, example_with, spec_of
from tests.core.k8s.specs import RICH


def _object(rendering: Rendering, kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [
        m.body for m in rendering.manifests if m.kind == kind and (name is None or m.name == name)
    ]
    return found


def _container(body: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = body["spec"]["template"]["spec"]["containers"][0]
    return container


def _findings(rendering: Rendering, level: str) -> dict[str, str]:
    return {f.key: f.message for f in rendering.findings if f.level == level}


def test_the_example_renders_plain_without_loss() -> None:
    rendering = render(example(), Options())
    assert [m.kind for m in rendering.manifests] == ["Deployment", "Service", "PodDisruptionBudget"]
    assert rendering.lossy == []
    deployment = _object(rendering, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert deployment["spec"]["minReadySeconds"] == 1
    assert deployment["spec"]["progressDeadlineSeconds"] == 15  # the example's progress_deadline
    service = _object(rendering, "Service")
    assert service["spec"]["ports"][0]["port"] == 8080  # proxy.listen's port
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_probes_keep_paths_and_thresholds_and_round_up_to_seconds() -> None:
    rendering = render(spec_of(RICH), Options())
    container = _container(_object(rendering, "Deployment"))
    ready = container["readinessProbe"]
    assert ready["httpGet"] == {"path": "/readyz", "port": "http"}
    assert (ready["periodSeconds"], ready["timeoutSeconds"], ready["initialDelaySeconds"]) == (
        2,
        2,
        1,
    )
    assert (ready["successThreshold"], ready["failureThreshold"]) == (2, 3)
    startup = container["startupProbe"]  # 250 ms x 40 = 10 s to boot, kept
    assert (startup["periodSeconds"], startup["failureThreshold"]) == (1, 10)
    assert container["livenessProbe"]["periodSeconds"] == 10
    notes = _findings(rendering, "note")
    assert "period 0.25s -> 1s" in notes["probes.startup"]
    assert "timeout 1.5s -> 2s" in notes["probes.readiness"]


def test_secrets_are_references_never_values() -> None:
    options = Options(env_file={"DATABASE_URL": "postgres://secret", "FROM_FILE": "1"})
    rendering = render(spec_of(RICH), options)
    env = _container(_object(rendering, "Deployment"))["env"]
    by_name = {e["name"]: e for e in env}
    assert by_name["DATABASE_URL"] == {
        "name": "DATABASE_URL",
        "valueFrom": {"secretKeyRef": {"name": "shop-api-v2-secrets", "key": "DATABASE_URL"}},
    }
    assert by_name["FROM_FILE"]["value"] == "1"
    assert by_name["LOG_LEVEL"]["value"] == "info"
    assert "postgres://secret" not in repr([m.body for m in rendering.manifests])


def test_env_file_values_win_over_env_as_locally() -> None:
    spec = example_with('[app]\nenv = { MODE = "base", KEEP = "yes" }')
    env = _container(render(spec, Options(env_file={"MODE": "file"})).manifests[0].body)["env"]
    values = {e["name"]: e.get("value") for e in env}
    assert values["MODE"] == "file"
    assert values["KEEP"] == "yes"


def test_names_become_dns_labels() -> None:
    assert dns_label("Shop_API.v2") == "shop-api-v2"
    assert dns_label("9lives") == "app-9lives"
    assert len(dns_label("x" * 63) + "-secrets") <= 63
    rendering = render(spec_of(RICH), Options())
    assert _object(rendering, "Deployment")["metadata"]["name"] == "shop-api-v2"


def test_a_loopback_bound_port_command_listens_on_all_interfaces() -> None:
    container = _container(render(spec_of(RICH), Options(container_port=9000)).manifests[0].body)
    assert container["command"] == [
        "granian",
        "--interface",
        "asgi",
        "--host",
        "0.0.0.0",
        "--port",
        "9000",
        "shop:app",
    ]
    assert container["ports"][0]["containerPort"] == 9000
    assert {"name": "PORT", "value": "9000"} in container["env"]


def test_a_command_that_cannot_be_rewritten_is_lossy() -> None:
    rendering = render(example_with('[app]\ncommand = "./serve"'), Options())
    assert "write {port}" in _findings(rendering, "lossy")["app.command"]
    assert "command" not in _container(rendering.manifests[0].body)


def test_the_disruption_budget_never_blocks_a_node_drain() -> None:
    budget = _object(render(example(), Options()), "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1  # max_unavailable 0 would block drains
    rich = _object(render(spec_of(RICH), Options()), "PodDisruptionBudget")
    assert rich["spec"]["maxUnavailable"] == 1  # 10% of 4, rounded down, but at least 1
    single = render(example_with("[app]\nreplicas = 1"), Options())
    assert "node drain" in _findings(single, "note")["app.replicas"]


def test_percentages_stay_percentages() -> None:
    deployment = _object(
        render(spec_of(RICH), Options(strategy=StrategyName.ROLLING)), "Deployment"
    )
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": "25%",
        "maxUnavailable": "10%",
    }


def test_values_say_the_environment_key_they_come_from() -> None:
    overlay = {"app": {"replicas": 6}, "termination": {"grace_period": "45s"}}
    rendering = render(spec_of(RICH, "prod"), Options(environment="prod", overlay=overlay))
    deployment = rendering.manifests[0]
    assert deployment.body["spec"]["replicas"] == 6
    assert deployment.origins["spec.replicas"].keys == ("environments.prod.spec.app.replicas",)
    grace = deployment.origins["spec.template.spec.terminationGracePeriodSeconds"]
    assert "environments.prod.spec.termination.grace_period" in grace.keys
    assert "termination.drain_timeout" in grace.keys  # from the base file
    assert "= 115s" in grace.why  # 5 + 45 (pre_stop, at most) + 20 + 45
    assert deployment.body["metadata"]["labels"]["changeover.dev/environment"] == "prod"


def test_defaults_are_marked_as_defaults() -> None:
    spec = spec_of('[app]\nname = "a"\ncommand = "x {port}"')
    deployment = render(spec, Options()).manifests[0]
    assert deployment.origins["spec.replicas"].keys == ("app.replicas (default)",)


def test_every_value_has_an_origin_and_every_origin_a_value() -> None:
    rendering = render(spec_of(RICH), Options(rollouts=True, router=Router.ISTIO))
    for manifest in rendering.manifests:
        assert manifest.origins, manifest.kind
        for origin in manifest.origins.values():
            assert origin.keys


def test_canary_steps_become_rollout_steps_with_istio() -> None:
    rendering = render(spec_of(RICH), Options(rollouts=True, router=Router.ISTIO))
    canary = _object(rendering, "Rollout")["spec"]["strategy"]["canary"]
    assert canary["trafficRouting"]["istio"]["virtualService"] == {
        "name": "shop-api-v2",
        "routes": ["primary"],
    }
    assert canary["trafficRouting"]["managedRoutes"] == [{"name": "header-route"}]
    steps = canary["steps"]
    assert steps[0] == {"setWeight": 5}
    assert steps[1]["setHeaderRoute"]["match"] == [
        {"headerName": "X-Canary", "headerValue": {"exact": "yes"}}
    ]
    assert steps[2]["setHeaderRoute"]["match"][0]["headerValue"] == {"prefix": "b"}
    assert steps[3] == {"setCanaryScale": {"replicas": 2}}
    assert steps[4] == {"setCanaryScale": {"matchTrafficWeight": True}}
    assert steps[5]["analysis"]["templates"] == [{"templateName": "shop-api-v2-slo"}]
    assert steps[6] == {"pause": {"duration": 2}}  # 1.5 s, rounded up (noted)
    assert steps[-1] == {"pause": {}}
    assert canary["analysis"]["templates"] == [{"templateName": "shop-api-v2-slo-background"}]
    lossy = _findings(rendering, "lossy")
    assert "a command metric" in lossy["analysis.external.metrics[2].provider"]


def test_header_routes_need_a_router_that_has_them() -> None:
    rendering = render(spec_of(RICH), Options(rollouts=True, router=Router.NGINX))
    lossy = _findings(rendering, "lossy")
    assert "need a traffic router that supports them" in lossy["strategy.steps[1].set_header_route"]
    steps = _object(rendering, "Rollout")["spec"]["strategy"]["canary"]["steps"]
    assert not [s for s in steps if "setHeaderRoute" in s]
    assert _object(rendering, "Rollout")["spec"]["strategy"]["canary"]["trafficRouting"] == {
        "nginx": {"stableIngress": "shop-api-v2"}
    }


def test_sticky_users_are_reported() -> None:
    rendering = render(example(), Options(rollouts=True, strategy=StrategyName.CANARY))
    assert "keeps no user on one revision" in _findings(rendering, "lossy")["strategy.sticky"]


def test_no_router_no_builtin_metrics() -> None:
    rendering = render(
        example(), Options(rollouts=True, strategy=StrategyName.CANARY, router=Router.NONE)
    )
    lossy = _findings(rendering, "lossy")
    assert "only a traffic router exports" in lossy["analysis.slo.metrics[0].query"]
    assert "step left out" in lossy["strategy.steps[1].analysis"]
    assert not [m for m in rendering.manifests if m.kind == "AnalysisTemplate"]
    assert "basic canary" in _findings(rendering, "note")["--traffic-router"]


def test_blue_green_preview_promotion_and_scale_down() -> None:
    rendering = render(spec_of(RICH), Options(rollouts=True, strategy=StrategyName.BLUE_GREEN))
    blue_green = _object(rendering, "Rollout")["spec"]["strategy"]["blueGreen"]
    assert blue_green["activeService"] == "shop-api-v2"
    assert blue_green["previewService"] == "shop-api-v2-preview"
    assert blue_green["autoPromotionEnabled"] is False
    assert "autoPromotionSeconds" not in blue_green  # only with auto_promote
    assert blue_green["scaleDownDelaySeconds"] == 120
    pre = blue_green["prePromotionAnalysis"]
    args = {a["name"]: a.get("value") for a in pre["args"]}
    assert args["canary-service"] == "shop-api-v2-preview"
    assert args["stable-service"] == "shop-api-v2"
    post = blue_green["postPromotionAnalysis"]
    assert post["templates"] == [{"templateName": "shop-api-v2-slo-post"}]
    preview = _object(rendering, "Service", "shop-api-v2-preview")
    assert preview["spec"]["ports"][0]["port"] == 8081
    lossy = _findings(rendering, "lossy")
    assert "no traffic after promotion" in lossy["analysis.slo.metrics[4].query"]
    post_template = _object(rendering, "AnalysisTemplate", "shop-api-v2-slo-post")
    assert [m["name"] for m in post_template["spec"]["metrics"]] == [
        "success",
        "errors",
        "rate",
        "p99",
    ]


def test_a_rolling_rollout_is_a_canary_without_steps() -> None:
    rendering = render(example(), Options(rollouts=True))
    rollout = _object(rendering, "Rollout")
    assert rollout["spec"]["strategy"] == {"canary": {"maxSurge": 1, "maxUnavailable": 0}}
    assert rollout["spec"]["progressDeadlineAbort"] is True
    assert rendering.lossy == []


def test_plain_mode_cannot_canary() -> None:
    rendering = render(spec_of(RICH), Options())
    assert "needs --rollouts" in _findings(rendering, "lossy")["strategy.type"]
    notes = _findings(rendering, "note")
    assert "not rolled back" in notes["strategy.progress_deadline"]


def test_agent_only_settings_are_noted_when_set() -> None:
    rendering = render(spec_of(RICH), Options())
    notes = _findings(rendering, "note")
    assert "ingress or mesh" in notes["proxy.idle_timeout"]
    assert "proxy.listen" not in notes
    assert "after the endpoint-removal sleep" in notes["termination.pre_stop"]


def test_a_stop_signal_other_than_sigterm_is_lossy() -> None:
    rendering = render(example_with('[termination]\nstop_signal = "SIGINT"'), Options())
    assert "STOPSIGNAL" in _findings(rendering, "lossy")["termination.stop_signal"]


def test_the_gates_of_the_rendered_environment_are_noted() -> None:
    text = RICH + "\n[environments.staging]\napprovals = 1\n"
    rendering = render(spec_of(text, "staging"), Options(environment="staging"))
    assert "promotion gates" in _findings(rendering, "note")["environments.staging.approvals"]


@pytest.mark.parametrize(
    ("section", "model"),
    [
        ("app", models.App),
        ("probes", models.Probes),
        ("termination", models.Termination),
        ("strategy", models.Strategy),
    ],
)
def test_every_key_of_a_rendered_section_is_mapped_or_reported(section: str, model: Any) -> None:
    known = {
        *unmapped.MAPPED.get(section, ()),
        *unmapped.REPORTED.get(section, ()),
        *(unmapped.CANARY_KEYS + unmapped.BLUE_GREEN_KEYS if section == "strategy" else ()),
    }
    assert set(model.model_fields) <= known, set(model.model_fields) - known


def test_every_section_is_rendered_or_agent_only() -> None:
    rendered = {*unmapped.MAPPED, "analysis", "environments"}
    assert set(models.Spec.model_fields) == rendered | set(unmapped.AGENT_ONLY)


def test_kube_versions_outside_the_validated_ones_are_refused() -> None:
    assert str(KubeVersion.parse("v1.31.2")) == "1.31"
    for text in ("1.24", "1.38", "2.0", "latest"):
        with pytest.raises(ValueError, match="--kube-version"):
            KubeVersion.parse(text)
    with pytest.raises(ValueError, match="nginx, istio, none"):
        Router.parse("traefik")
