"""Rendered manifests as text: YAML documents, the explanation, the JSON documents.

Invariant: the YAML is the manifests' bodies, each document after a comment saying how it
was made, keys in the order the rendering wrote them and no line folded, so the same
rendering always prints the same bytes; the JSON carries the same values.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from changeover.k8s.draft import Manifest
from changeover.k8s.render import Rendering

WIDTH = 1 << 16  # never fold a long value (PromQL) across lines


def header(source: str, kube_version: str) -> str:
    return (
        f"# Rendered by `changeover k8s render` from {source} for Kubernetes {kube_version}.\n"
        "# Edit the spec and render again; `changeover k8s explain` says where each value "
        "comes from.\n"
    )


def yaml_document(manifest: Manifest, head: str = "") -> str:
    text = yaml.safe_dump(manifest.body, sort_keys=False, width=WIDTH, allow_unicode=True)
    return head + text


def yaml_stream(rendering: Rendering, head: str = "") -> str:
    return "---\n".join(yaml_document(m, head) for m in rendering.manifests)


def findings_json(rendering: Rendering) -> list[dict[str, Any]]:
    return [f.to_json() for f in rendering.findings]


def termination_json(rendering: Rendering) -> dict[str, Any]:
    p = rendering.plan
    return {
        "pre_stop_sleep": p.sleep,
        "drain_timeout": p.drain,
        "grace_period": p.grace,
        "termination_grace_period_seconds": p.period,
        "sigterm_to_sigkill": p.after_signal,
        "pre_stop": p.pre_stop,
    }


def render_json(rendering: Rendering, rendered: bool) -> str:
    doc = {
        "rendered": rendered,
        "manifests": [m.body for m in rendering.manifests] if rendered else [],
        "findings": findings_json(rendering),
        "termination": termination_json(rendering),
    }
    return json.dumps(doc, indent=2)


def explained(rendering: Rendering) -> list[dict[str, Any]]:
    return [
        {
            "object": f"{m.kind}/{m.name}",
            "path": path,
            "value": _value_at(m.body, path),
            "from": list(origin.keys),
            "why": origin.why,
        }
        for m in rendering.manifests
        for path, origin in m.origins.items()
    ]


def explain_json(rendering: Rendering) -> str:
    doc = {
        "termination": termination_json(rendering),
        "values": explained(rendering),
        "findings": findings_json(rendering),
    }
    return json.dumps(doc, indent=2)


def explain_text(rendering: Rendering) -> str:
    p = rendering.plan
    lines = [
        "Termination (what a pod does when it is deleted):",
        f"  1. its endpoint is removed; the preStop hook waits {p.sleep}s meanwhile "
        "(--endpoint-delay) and the pod keeps serving what still arrives",
        "  2. the preStop hook runs termination.pre_stop, if any, for at most "
        "termination.grace_period; then SIGTERM",
        f"  3. the app drains in-flight requests (termination.drain_timeout {p.drain}s) and "
        f"shuts down (termination.grace_period {p.grace}s)",
        f"  4. SIGKILL at terminationGracePeriodSeconds = {p.arithmetic()}, counted from the "
        f"deletion ({p.after_signal}s after SIGTERM: CHANGEOVER_GRACE_PERIOD)",
        "",
    ]
    current = ""
    for item in explained(rendering):
        if item["object"] != current:
            current = item["object"]
            lines.append(current)
        lines.append(f"  {item['path']} = {_short(item['value'])}")
        lines.append(
            f"      from {', '.join(item['from'])}" + (f": {item['why']}" if item["why"] else "")
        )
    if rendering.findings:
        lines += ["", "Not rendered as the spec says:"]
        lines += [f"  {f.line()}" for f in rendering.findings]
    return "\n".join(lines) + "\n"


def _short(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= 120 else text[:117] + "..."


def _value_at(body: dict[str, Any], path: str) -> Any:
    node: Any = body
    for part in path.replace("[", ".[").split("."):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node
