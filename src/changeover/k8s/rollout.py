"""`--rollouts`: an Argo Rollouts Rollout, its Services and the AnalysisTemplates it uses.

Invariant: the Rollout does what the agent does for the same strategy, step for step, or
the report says what it does not: a rolling strategy is a canary without steps (Argo
Rollouts' own rolling update), a canary keeps the stable at full size (Argo's default, as
the agent) and a rollout past its progress deadline is aborted back to the stable
(`progressDeadlineAbort`), as the agent rolls back.
"""

from __future__ import annotations

import math
from typing import Any

from changeover.k8s import analysis
from changeover.k8s.analysis import BACKGROUND, POST, Use
from changeover.k8s.context import Context
from changeover.k8s.draft import Draft, Manifest
from changeover.k8s.flags import annotate
from changeover.k8s.options import Router
from changeover.k8s.pod import pod_template
from changeover.k8s.queries import CANARY, NAMESPACE, STABLE
from changeover.k8s.sources import fixed, option
from changeover.k8s.termination import Plan
from changeover.k8s.workload import int_or_percent, service, timing
from changeover.spec.models import Step
from changeover.spec.strategy import StrategyName

HEADER_ROUTE = "header-route"  # the managed route setHeaderRoute steps fill
ISTIO_ROUTE = "primary"  # the VirtualService's route Argo Rollouts weights


class RolloutBuild:
    """The Rollout being built, the templates it refers to, the services it needs."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.uses: list[Use] = []
        self.templates: dict[Use, Manifest | None] = {}

    def ref(self, use: Use, canary: str, stable: str) -> dict[str, Any] | None:
        """An analysis reference (`templates` + `args`), None if the template has no metric."""
        if use not in self.templates:
            self.templates[use] = analysis.render(self.ctx, use)
        if self.templates[use] is None:
            return None
        ref: dict[str, Any] = {
            "templates": [{"templateName": analysis.template_name(self.ctx, use)}]
        }
        if analysis.takes_args(self.ctx, use):
            ref["args"] = [
                {"name": NAMESPACE, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": CANARY, "value": canary},
                {"name": STABLE, "value": stable},
            ]
        return ref


def rollout(ctx: Context, plan: Plan) -> list[Manifest]:
    src = ctx.sources
    draft = Draft(analysis.API, "Rollout", ctx.names.base, ctx.names.labels)
    build = RolloutBuild(ctx)
    draft.put("spec.replicas", ctx.spec.app.replicas, src.origin("app.replicas"))
    draft.put("spec.selector.matchLabels", ctx.names.selector, fixed("the pods' name label"))
    timing(ctx, draft)
    why = "past the deadline the rollout is aborted and the stable serves, as the agent rolls back"
    draft.put("spec.progressDeadlineAbort", True, src.origin("strategy.progress_deadline", why=why))
    annotate(ctx, draft)
    pod_template(ctx, draft, plan)
    services = [_stable_service(ctx)]
    if ctx.strategy is StrategyName.BLUE_GREEN:
        services.append(_blue_green(ctx, draft, build))
    else:
        services += _canary(ctx, draft, build)
    templates = [t for t in build.templates.values() if t is not None]
    return [draft.manifest(), *services, *templates]


def _stable_service(ctx: Context) -> Manifest:
    why = "clients reach the Service on the port they used locally"
    return service(ctx, ctx.names.base, "proxy.listen", ctx.spec.proxy.listen, why)


def _canary(ctx: Context, draft: Draft, build: RolloutBuild) -> list[Manifest]:
    src, st = ctx.sources, ctx.spec.strategy
    at = "spec.strategy.canary"
    draft.put(f"{at}.maxSurge", int_or_percent(st.max_surge), src.origin("strategy.max_surge"))
    draft.put(
        f"{at}.maxUnavailable",
        int_or_percent(st.max_unavailable),
        src.origin("strategy.max_unavailable"),
    )
    if ctx.strategy is StrategyName.ROLLING:
        return []  # Argo's canary without steps or routing is a rolling update
    canary_name = ctx.names.suffixed("canary")
    names = option("--traffic-router", "the Services the traffic router weights")
    draft.put(f"{at}.canaryService", canary_name, names)
    draft.put(f"{at}.stableService", ctx.names.base, names)
    _routing(ctx, draft, at)
    _steps(ctx, draft, build, at, canary_name)
    if st.background_analysis:
        ref = build.ref(Use(st.background_analysis, BACKGROUND), canary_name, ctx.names.base)
        if ref is not None:
            draft.put(f"{at}.analysis", ref, src.origin("strategy.background_analysis"))
    if st.sticky:
        ctx.report.lossy(
            ctx.key("strategy.sticky"),
            "Argo Rollouts weights each request, it keeps no user on one revision: users "
            "may see both versions during the canary",
        )
    why = "the canary's Service, on the same port as the stable's"
    return [service(ctx, canary_name, "proxy.listen", ctx.spec.proxy.listen, why)]


def _routing(ctx: Context, draft: Draft, at: str) -> None:
    router = ctx.options.router
    why = f"the traffic router given by --traffic-router ({router})"
    if router is Router.NGINX:
        draft.put(
            f"{at}.trafficRouting.nginx.stableIngress",
            ctx.names.base,
            option("--traffic-router", why + "; an Ingress of this name must exist"),
        )
    elif router is Router.ISTIO:
        vs = {"name": ctx.names.base, "routes": [ISTIO_ROUTE]}
        draft.put(
            f"{at}.trafficRouting.istio.virtualService",
            vs,
            option("--traffic-router", why + "; a VirtualService of this name must exist"),
        )
        if any(s.set_header_route is not None for s in ctx.spec.strategy.steps):
            draft.put(
                f"{at}.trafficRouting.managedRoutes",
                [{"name": HEADER_ROUTE}],
                option("--traffic-router", "the route header steps set"),
            )
    else:
        ctx.report.note(
            "--traffic-router",
            "none: canary weights are approximated by replica counts (Argo Rollouts' "
            "basic canary), not exact per-request weights as the agent's",
        )


def _steps(ctx: Context, draft: Draft, build: RolloutBuild, at: str, canary: str) -> None:
    n = 0
    for i, step in enumerate(ctx.spec.strategy.steps):
        key = f"strategy.steps[{i}]"
        body = _step(ctx, build, step, key, canary)
        if body is not None:
            draft.put(f"{at}.steps[{n}]", body, ctx.sources.origin(key))
            n += 1


def _step(
    ctx: Context, build: RolloutBuild, step: Step, key: str, canary: str
) -> dict[str, Any] | None:
    if step.set_weight is not None:
        return {"setWeight": step.set_weight}
    if step.pause is not None:
        if isinstance(step.pause, dict):
            return {"pause": {}}
        seconds = math.ceil(step.pause - 1e-9)
        if seconds != step.pause:
            ctx.report.note(ctx.key(f"{key}.pause"), f"rounded up to {seconds}s")
        return {"pause": {"duration": seconds}}
    if step.analysis is not None:
        ref = build.ref(Use(step.analysis), canary, ctx.names.base)
        if ref is None:
            ctx.report.lossy(
                ctx.key(f"{key}.analysis"),
                f"template {step.analysis!r} has no metric left to render: step left out",
            )
        return None if ref is None else {"analysis": ref}
    if step.set_canary_scale is not None:
        scale = step.set_canary_scale
        if scale.match_traffic_weight:
            return {"setCanaryScale": {"matchTrafficWeight": True}}
        body = {
            k: v
            for k, v in (("replicas", scale.replicas), ("weight", scale.weight))
            if v is not None
        }
        return {"setCanaryScale": body}
    return _header_route(ctx, step, key)


def _header_route(ctx: Context, step: Step, key: str) -> dict[str, Any] | None:
    route = step.set_header_route
    assert route is not None
    if ctx.options.router is not Router.ISTIO:
        ctx.report.lossy(
            ctx.key(f"{key}.set_header_route"),
            f"header routes need a traffic router that supports them (istio); "
            f"{ctx.options.router} does not: step left out",
        )
        return None
    if route.value is not None:
        value = {"exact": route.value}
    elif route.prefix is not None:
        value = {"prefix": route.prefix}
    else:
        value = {"regex": route.regex if route.regex is not None else ".*"}
    match = [{"headerName": route.header, "headerValue": value}]
    return {"setHeaderRoute": {"name": HEADER_ROUTE, "match": match}}


def _blue_green(ctx: Context, draft: Draft, build: RolloutBuild) -> Manifest:
    src, st = ctx.sources, ctx.spec.strategy
    at = "spec.strategy.blueGreen"
    preview = ctx.names.suffixed("preview")
    draft.put(f"{at}.activeService", ctx.names.base, fixed("the Service users reach"))
    draft.put(f"{at}.previewService", preview, src.origin("strategy.preview_listen"))
    draft.put(f"{at}.autoPromotionEnabled", st.auto_promote, src.origin("strategy.auto_promote"))
    if st.auto_promote and st.auto_promote_delay > 0:
        draft.put(
            f"{at}.autoPromotionSeconds",
            math.ceil(st.auto_promote_delay - 1e-9),
            src.origin("strategy.auto_promote_delay"),
        )
    draft.put(
        f"{at}.scaleDownDelaySeconds",
        math.ceil(st.scale_down_delay - 1e-9),
        src.origin("strategy.scale_down_delay", why="the old revision stays warm for undo"),
    )
    for key, field, variant, (canary, stable) in (
        ("pre_promotion_analysis", "prePromotionAnalysis", "", (preview, ctx.names.base)),
        ("post_promotion_analysis", "postPromotionAnalysis", POST, (ctx.names.base, preview)),
    ):
        name = getattr(st, key)
        ref = None if name is None else build.ref(Use(name, variant), canary, stable)
        if ref is not None:
            draft.put(f"{at}.{field}", ref, src.origin(f"strategy.{key}"))
    listen_key = "strategy.preview_listen" if st.preview_listen else "proxy.listen"
    listen = st.preview_listen or ctx.spec.proxy.listen
    why = "the preview Service: the new revision before promotion, on preview_listen's port"
    return service(ctx, preview, listen_key, listen, why)
