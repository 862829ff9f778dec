"""Plain mode: a Deployment, its Service and a PodDisruptionBudget.

Invariant: the Deployment rolls as `strategy` says locally (surge rounded up,
unavailability rounded down, both as Kubernetes does), and the Service answers on the
port clients used (`proxy.listen`'s) while targeting the container port by name.
"""

from __future__ import annotations

import math

from changeover.k8s.context import PORT_NAME, Context
from changeover.k8s.draft import Draft, Manifest
from changeover.k8s.flags import annotate
from changeover.k8s.pod import pod_template
from changeover.k8s.sources import fixed
from changeover.k8s.termination import Plan
from changeover.units import Quantity


def int_or_percent(q: Quantity) -> int | str:
    return f"{q.value}%" if q.percent else q.value


def deployment(ctx: Context, plan: Plan) -> Manifest:
    src, st = ctx.sources, ctx.spec.strategy
    draft = Draft("apps/v1", "Deployment", ctx.names.base, ctx.names.labels)
    draft.put("spec.replicas", ctx.spec.app.replicas, src.origin("app.replicas"))
    draft.put("spec.selector.matchLabels", ctx.names.selector, fixed("the pods' name label"))
    draft.put("spec.strategy.type", "RollingUpdate", src.origin("strategy.type"))
    rounding = "Kubernetes rounds a percentage as changeover does"
    draft.put(
        "spec.strategy.rollingUpdate.maxSurge",
        int_or_percent(st.max_surge),
        src.origin("strategy.max_surge", why=f"{rounding} (up)"),
    )
    draft.put(
        "spec.strategy.rollingUpdate.maxUnavailable",
        int_or_percent(st.max_unavailable),
        src.origin("strategy.max_unavailable", why=f"{rounding} (down)"),
    )
    timing(ctx, draft)
    annotate(ctx, draft)
    pod_template(ctx, draft, plan)
    return draft.manifest()


def timing(ctx: Context, draft: Draft) -> None:
    """minReadySeconds and progressDeadlineSeconds, shared by Deployment and Rollout."""
    src, st = ctx.sources, ctx.spec.strategy
    ready = math.ceil(st.min_ready - 1e-9)
    draft.put("spec.minReadySeconds", ready, src.origin("strategy.min_ready"))
    # the API refuses a deadline that is not longer than minReadySeconds
    deadline = max(math.ceil(st.progress_deadline - 1e-9), ready + 1)
    why = "time without progress, as locally"
    if deadline != math.ceil(st.progress_deadline - 1e-9):
        why += f"; raised to {deadline}s, as the API needs it longer than minReadySeconds"
    draft.put(
        "spec.progressDeadlineSeconds", deadline, src.origin("strategy.progress_deadline", why=why)
    )


def service(ctx: Context, name: str, listen_key: str, listen: str, why: str) -> Manifest:
    draft = Draft("v1", "Service", name, ctx.names.labels)
    draft.put("spec.selector", ctx.names.selector, fixed("the pods' name label"))
    port = {
        "name": PORT_NAME,
        "port": ctx.service_port(listen),
        "targetPort": PORT_NAME,
        "protocol": "TCP",
    }
    draft.put("spec.ports", [port], ctx.sources.origin(listen_key, why=why))
    return draft.manifest()


def disruption_budget(ctx: Context) -> Manifest:
    n = ctx.spec.app.replicas
    down = ctx.spec.strategy.max_unavailable.resolve(n, round_up=False)
    allowed = max(1, down)
    draft = Draft("policy/v1", "PodDisruptionBudget", ctx.names.base, ctx.names.labels)
    draft.put("spec.selector.matchLabels", ctx.names.selector, fixed("the pods' name label"))
    why = (
        f"voluntary evictions (node drains) take at most {allowed} pod(s) at a time: "
        "strategy.max_unavailable, but at least 1, since 0 would block node drains forever"
    )
    draft.put(
        "spec.maxUnavailable", allowed, ctx.sources.origin("strategy.max_unavailable", why=why)
    )
    if n == 1:
        ctx.report.note(
            ctx.key("app.replicas"),
            "one replica cannot survive a node drain without a pause in service; "
            "use 2 or more in a cluster",
        )
    return draft.manifest()
