"""What the k8s tests share: specs to render, and the offline schema checks.

Kubernetes kinds are validated with kubernetes-validate (the OpenAPI schemas it bundles,
strict: an unknown field is an error, as `kubectl apply --validate=strict` makes it);
Argo Rollouts kinds against the CRD schemas of the pinned release vendored in
tests/data/argo-rollouts (NOTICE there), made strict the same way: the API server would
prune an unknown field silently, which is exactly the loss these tests must catch.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate.utils as kv
import yaml
from referencing import Registry, Resource

from changeover.k8s.options import NEWEST_MINOR, OLDEST_MINOR
from changeover.spec.load import load_spec, load_spec_data, parse_toml
from changeover.spec.models import Spec

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "hello" / "changeover.toml"
ARGO = ROOT / "tests" / "data" / "argo-rollouts"
ARGO_VERSION = "v1.9.1"
CRDS = {"Rollout": "rollout-crd.yaml", "AnalysisTemplate": "analysis-template-crd.yaml"}
KUBE_VERSIONS = [f"1.{minor}" for minor in range(OLDEST_MINOR, NEWEST_MINOR + 1)]


def example() -> Spec:
    return load_spec(EXAMPLE)


def spec_of(text: str, environment: str | None = None) -> Spec:
    return load_spec_data(parse_toml(text, "test.toml"), "test.toml", environment=environment)


def example_with(text: str) -> Spec:
    """The example's spec with `text` (TOML tables) merged over it, key by key."""
    data = parse_toml(EXAMPLE.read_text(), str(EXAMPLE))
    _merge(data, parse_toml(text, "extra.toml"))
    return load_spec_data(data, "example+extra")


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def validate(body: dict[str, Any], kube_version: str) -> None:
    """Raise if `body` is not valid for Kubernetes `kube_version` (or the pinned CRD)."""
    if body["apiVersion"].startswith("argoproj.io/"):
        _argo_validator(body["kind"]).validate(body)
        if body["kind"] == "Rollout":  # its pod template, against Kubernetes' own schema
            pod = {
                "apiVersion": "v1",
                "kind": "PodTemplate",
                "metadata": {"name": "t"},
                "template": body["spec"]["template"],
            }
            _kube_validator(kube_version, "PodTemplate", "v1").validate(pod)
        return
    _kube_validator(kube_version, body["kind"], body["apiVersion"]).validate(body)


@functools.cache
def _kube_validator(version: str, kind: str, api_version: str) -> Any:
    """kubernetes_validate.validate(..., strict=True), its schemas loaded once: it reads
    and parses them from disk at every call, minutes for this suite."""
    assert version in kv.all_versions() or f"{version}.0" in kv.all_versions(), version
    group = api_version.split("/")[0].split(".")[0] + "-" if "/" in api_version else ""
    schema_dir = f"kubernetes-json-schema/v{version}.0-local-strict"
    name = f"{kind.lower()}-{group}{api_version.split('/')[-1]}.json"
    schema = kv.schema_contents(f"{schema_dir}/{name}", version)
    registry = Resource.from_contents(schema) @ (_definitions(schema_dir) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.cache
def _definitions(schema_dir: str) -> Resource[Any]:
    return Resource.from_contents(kv.schema_contents(f"{schema_dir}/_definitions.json", ""))


@functools.cache
def _argo_validator(kind: str) -> Any:
    schema = argo_schema(kind)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@functools.cache
def argo_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((ARGO / CRDS[kind]).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return _strict(version["schema"]["openAPIV3Schema"])


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _strict(v) if k != "properties" else {p: _strict(s) for p, s in v.items()}
        for k, v in node.items()
    }
    if "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out
