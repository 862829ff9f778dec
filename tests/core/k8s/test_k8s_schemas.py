"""Every rendered manifest is valid offline: Kubernetes kinds against the OpenAPI schemas
of each supported version, Argo Rollouts kinds against the pinned CRDs (kit.py)."""

from __future__ import annotations

import pytest

from changeover.k8s.options import KubeVersion, Options, Router
from changeover.k8s.render import render
from changeover.spec.models import Spec
from changeover.spec.strategy import StrategyName
from tests.core.k8s.kit import ARGO, ARGO_VERSION, KUBE_VERSIONS, example, spec_of, validate
from tests.core.k8s.specs import RICH

FLAGS = {"version": 2, "features": [{"name": "checkout", "enabled": True, "strategies": []}]}


def _specs() -> dict[str, Spec]:
    return {"example": example(), "rich": spec_of(RICH), "rich-prod": spec_of(RICH, "prod")}


SPECS = _specs()
MODES = [(False, None, Router.NGINX)] + [
    (True, strategy, router) for strategy in StrategyName for router in Router
]


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_manifest_is_valid_for_every_supported_version(name: str, version: str) -> None:
    seen = set()
    for rollouts, strategy, router in MODES:
        options = Options(
            kube_version=KubeVersion.parse(version),
            rollouts=rollouts,
            strategy=strategy,
            router=router,
            env_file={"FROM_FILE": "1", "DATABASE_URL": "never rendered"},
            flags=FLAGS,
        )
        for manifest in render(SPECS[name], options).manifests:
            validate(manifest.body, version)
            seen.add(manifest.kind)
    expected = {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "Rollout"}
    assert expected <= seen
    assert "AnalysisTemplate" in seen


def test_the_checks_refuse_a_misspelt_field() -> None:
    """The strict schemas would catch a typo that the API server would prune silently."""
    rendering = render(example(), Options(rollouts=True, strategy=StrategyName.CANARY))
    rollout, deployment = rendering.manifests[0].body, render(example(), Options()).manifests[0]
    rollout["spec"]["strategy"]["canary"]["step"] = []
    with pytest.raises(Exception, match="step"):
        validate(rollout, "1.30")
    deployment.body["spec"]["template"]["spec"]["containers"][0]["prestop"] = {}
    with pytest.raises(Exception, match="prestop"):
        validate(deployment.body, "1.30")


def test_the_vendored_crds_are_the_pinned_release_with_their_licence() -> None:
    assert "Apache License" in (ARGO / "LICENSE").read_text()
    assert ARGO_VERSION in (ARGO / "NOTICE").read_text()
