"""`[analysis.NAME]` templates as Argo Rollouts AnalysisTemplates.

Invariant: a metric is rendered with the agent's semantics (per metric limits, the first
measurement one `interval` after `initial_delay`, "no data" inconclusive: both a success
and a failure condition, so neither holding is inconclusive), or reported and left out;
a template left with no metric is not rendered, and the caller reports the steps that
needed it.

A template is rendered once per use that needs a different shape: steps and blue-green
pre-promotion use `<name>-<template>`; background analysis, which the agent runs until
the rollout ends whatever `count` says, uses `...-background` without a count; post-
promotion analysis uses `...-post` without the metrics that compare with the stable
revision, since after promotion no stable revision gets traffic (always inconclusive
locally, and a comparison of the new revision with itself in a cluster).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from changeover.analysis.jsonpath import format_path, parse_path
from changeover.k8s.context import Context
from changeover.k8s.draft import Draft, Manifest
from changeover.k8s.names import dns_label
from changeover.k8s.options import Router
from changeover.k8s.queries import ARGS, promql
from changeover.spec import queries
from changeover.spec.models import AnalysisTemplate, Metric

API = "argoproj.io/v1alpha1"
BACKGROUND, POST = "background", "post"


@dataclass(frozen=True)
class Use:
    template: str  # the spec's analysis name
    variant: str = ""  # "", BACKGROUND or POST


def template_name(ctx: Context, use: Use) -> str:
    parts = [ctx.names.base, dns_label(use.template), use.variant]
    return "-".join(p for p in parts if p)


def takes_args(ctx: Context, use: Use) -> bool:
    return any(m.provider == "builtin" for m in ctx.spec.analysis[use.template].metrics)


def render(ctx: Context, use: Use) -> Manifest | None:
    spec_template = ctx.spec.analysis[use.template]
    draft = Draft(API, "AnalysisTemplate", template_name(ctx, use), ctx.names.labels)
    metrics = []
    for i, metric in enumerate(spec_template.metrics):
        key = f"analysis.{use.template}.metrics[{i}]"
        body = _metric(ctx, key, spec_template, metric, use)
        if body is not None:
            metrics.append((key, body))
    if not metrics:
        return None
    if takes_args(ctx, use):
        why = "the Rollout passes its namespace and the Services that tell canary from stable"
        draft.put(
            "spec.args",
            [{"name": a} for a in ARGS],
            ctx.sources.origin(f"analysis.{use.template}", why=why),
        )
    for j, (key, body) in enumerate(metrics):
        draft.put(f"spec.metrics[{j}]", body, ctx.sources.origin(key, why=_why(ctx, use)))
    return draft.manifest()


def _why(ctx: Context, use: Use) -> str:
    base = "interval, count and limits of the template, per metric as the agent counts them"
    if use.variant == BACKGROUND:
        return base + "; no count: background analysis runs until the rollout ends"
    return base


def _metric(
    ctx: Context, key: str, t: AnalysisTemplate, m: Metric, use: Use
) -> dict[str, Any] | None:
    provider = _provider(ctx, key, m, t, use)
    if provider is None:
        return None
    body: dict[str, Any] = {"name": m.name, "interval": go_duration(t.interval)}
    if use.variant != BACKGROUND:
        body["count"] = t.count
    success, failure = conditions(m, vector=m.provider != "web")
    return body | {
        # the agent's first round comes one interval after initial_delay: windows need traffic
        "initialDelay": go_duration(t.initial_delay + t.interval),
        "failureLimit": t.failure_limit,
        "inconclusiveLimit": t.inconclusive_limit,
        "consecutiveErrorLimit": t.consecutive_error_limit,
        "successCondition": success,
        "failureCondition": failure,
        "provider": provider,
    }


def _provider(
    ctx: Context, key: str, m: Metric, t: AnalysisTemplate, use: Use
) -> dict[str, Any] | None:
    if m.provider == "builtin":
        return _builtin(ctx, key, m, t, use)
    if m.provider == "prometheus":
        _loopback(ctx, f"{key}.address", m.address or "")
        return {"prometheus": {"address": m.address, "query": m.query}}
    if m.provider == "web":
        _loopback(ctx, f"{key}.url", m.url or "")
        web: dict[str, Any] = {"url": m.url}
        if m.json_path:
            web["jsonPath"] = "{" + format_path(parse_path(m.json_path)) + "}"
        return {"web": web}
    ctx.report.lossy(
        ctx.key(f"{key}.provider"),
        "a command metric runs on the agent's machine; Argo Rollouts runs a Job with an "
        "image instead: not rendered (use a prometheus or web metric, or write a job "
        "metric by hand)",
    )
    return None


def _builtin(
    ctx: Context, key: str, m: Metric, t: AnalysisTemplate, use: Use
) -> dict[str, Any] | None:
    query = m.query or ""
    router = ctx.options.router
    if router is Router.NONE:
        ctx.report.lossy(
            ctx.key(f"{key}.query"),
            f"builtin {query} reads per-revision request metrics, which only a traffic router "
            "exports: not rendered with --traffic-router none (use nginx or istio)",
        )
        return None
    if use.variant == POST and query in queries.COMPARED:
        ctx.report.lossy(
            ctx.key(f"{key}.query"),
            f"{query} compares with the stable revision, which gets no traffic after "
            "promotion: left out of the post-promotion template",
        )
        return None
    window = go_duration(max(t.interval, ctx.options.metrics_window))
    return {
        "prometheus": {
            "address": ctx.options.prometheus,
            "query": promql(router, query, window, m.min_requests, *_floor(m)),
        }
    }


def _floor(m: Metric) -> tuple[float, ...]:
    return () if m.floor is None else (m.floor,)


def conditions(m: Metric, vector: bool) -> tuple[str, str]:
    """(successCondition, failureCondition): neither holds on no data (inconclusive)."""
    value = "result[0]" if vector else "asFloat(result)"
    guard = "len(result) > 0 && " if vector else ""
    within = [
        f"{value} >= {number(m.min)}" if m.min is not None else "",
        f"{value} <= {number(m.max)}" if m.max is not None else "",
    ]
    outside = [
        f"{value} < {number(m.min)}" if m.min is not None else "",
        f"{value} > {number(m.max)}" if m.max is not None else "",
    ]
    within, outside = [w for w in within if w], [o for o in outside if o]
    if not within:
        if not vector:  # a web boolean passes when true, fails when false
            return "result == true", "result == false"
        return "len(result) > 0", "false"
    success = guard + " && ".join(within)
    failure = guard + ("(" + " || ".join(outside) + ")" if len(outside) > 1 else outside[0])
    return success, failure


def number(value: float) -> str:
    text = f"{value:.12f}".rstrip("0").rstrip(".")
    return text or "0"


def go_duration(seconds: float) -> str:
    """A duration Argo Rollouts parses (Go's): whole seconds, or milliseconds."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{math.ceil(seconds * 1000)}ms"


def _loopback(ctx: Context, key: str, address: str) -> None:
    if any(h in address for h in ("://127.", "://localhost", "://[::1]")):
        ctx.report.note(
            ctx.key(key),
            f"{address} is this machine's loopback; in a pod it is the pod itself: "
            "point it at the service's address in the cluster",
        )
