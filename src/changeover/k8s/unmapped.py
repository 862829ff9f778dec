"""The spec keys no manifest carries, each reported with the reason and what to do.

Invariant: every key of the spec is either read by a mapping module or reported here
when the spec file sets it; `tests/core/k8s` checks that each model field is in
`MAPPED`, `REPORTED`, the strategy lists or an agent-only section, so a new spec key
cannot be dropped without a word.
"""

from __future__ import annotations

from changeover.k8s.context import Context
from changeover.spec.strategy import StrategyName

# sections of the agent itself: what they configure has no counterpart in a pod
AGENT_ONLY = {
    "proxy": "the agent's proxy; in a cluster the ingress or mesh does this: set it there",
    "logs": "the agent's replica logs; in a cluster the kubelet and your log pipeline keep them",
    "events": "the agent's event store",
    "notify": "rollout notifications come from the agent; Argo Rollouts has its own notifications",
    "releases": "release trains are changeover's; the image tag is the release in a cluster",
    "flags": "the agent's flag listener; in a cluster the flags are a ConfigMap (--flags FILE)",
    "ops": "the agent's /metrics and alert webhook; in a cluster scrape the ingress or mesh",
    "guard": "the agent's guard window; with --rollouts, post-promotion analysis is Argo's",
    "control": "who may use the agent's control socket; in a cluster RBAC decides",
    "migrations": "the agent runs them around its rollouts; in a cluster use a Job or an init "
    "container for expand, and run contract yourself once no old pod runs (docs/migrations.md)",
}
RENDERED_PROXY = {"listen"}  # the Service's port
# what the mapping modules read, section by section (checked against the models by a test)
MAPPED = {
    "app": ("name", "command", "replicas", "env", "env_file", "secret_env"),
    "probes": ("startup", "readiness", "liveness"),
    "termination": ("drain_timeout", "pre_stop", "grace_period"),
    "strategy": ("type", "max_surge", "max_unavailable", "min_ready", "progress_deadline"),
}
# what is reported here when set (beyond the agent-only sections)
REPORTED = {
    "app": ("workdir",),
    "termination": ("stop_signal", "pre_stop"),
    "strategy": ("rollback_deadline", "sticky", "progress_deadline"),
}
CANARY_KEYS = ("steps", "background_analysis", "sticky")
BLUE_GREEN_KEYS = (
    "auto_promote",
    "auto_promote_delay",
    "scale_down_delay",
    "pre_promotion_analysis",
    "post_promotion_analysis",
    "preview_listen",
)
GATES = (
    "promote_from",
    "host",
    "soak",
    "soak_requests",
    "soak_analysis",
    "approvals",
    "approvers",
    "windows",
    "checklist",
    "hotfix_skips",
)


def report(ctx: Context) -> None:
    _agent_only(ctx)
    _termination(ctx)
    _strategy(ctx)
    _environment(ctx)
    if ctx.sources.is_set("app.workdir") and ctx.spec.app.workdir != ".":
        ctx.report.note(
            ctx.key("app.workdir"),
            "the image's working directory is the pod's: set WORKDIR in the image",
        )


def _agent_only(ctx: Context) -> None:
    for section, why in AGENT_ONLY.items():
        model = getattr(ctx.spec, section)
        for name in sorted(model.model_fields_set):
            if section == "proxy" and name in RENDERED_PROXY:
                continue
            ctx.report.note(ctx.key(f"{section}.{name}"), f"not rendered: {why}")


def _termination(ctx: Context) -> None:
    signal = ctx.spec.termination.stop_signal
    if signal != "SIGTERM":
        ctx.report.lossy(
            ctx.key("termination.stop_signal"),
            f"the kubelet sends SIGTERM, or the image's STOPSIGNAL; {signal} is not "
            "rendered (lifecycle.stopSignal needs the ContainerStopSignals feature gate, "
            "alpha since 1.33): set STOPSIGNAL in the image",
        )
    if ctx.spec.termination.pre_stop:
        ctx.report.note(
            ctx.key("termination.pre_stop"),
            "runs in the preStop hook after the endpoint-removal sleep, so before the app "
            "drains (locally it runs after the drain); it needs /bin/sh in the image",
        )


def _strategy(ctx: Context) -> None:
    st, chosen = ctx.spec.strategy, ctx.strategy
    if not ctx.options.rollouts and chosen is not StrategyName.ROLLING:
        ctx.report.lossy(
            ctx.key("strategy.type") if ctx.options.strategy is None else "--strategy",
            f"a Deployment only rolls; {chosen} needs --rollouts (Argo Rollouts)",
        )
    if not ctx.options.rollouts:
        ctx.report.note(
            ctx.key("strategy.progress_deadline"),
            "a Deployment past its deadline is marked ProgressDeadlineExceeded but not "
            "rolled back: run `kubectl rollout undo`, or render with --rollouts",
        )
    if ctx.sources.is_set("strategy.rollback_deadline"):
        ctx.report.note(
            ctx.key("strategy.rollback_deadline"),
            "not rendered: the controller restores the stable without a deadline",
        )
    unused = {
        StrategyName.CANARY: CANARY_KEYS,
        StrategyName.BLUE_GREEN: BLUE_GREEN_KEYS,
    }
    for strategy, keys in unused.items():
        if strategy is chosen and ctx.options.rollouts:
            continue
        for key in keys:
            if ctx.sources.is_set(f"strategy.{key}") and getattr(st, key) not in (None, []):
                ctx.report.note(
                    ctx.key(f"strategy.{key}"),
                    f"used by {strategy} under --rollouts only: not rendered here "
                    f"(render with --rollouts --strategy {strategy})",
                )


def _environment(ctx: Context) -> None:
    name = ctx.options.environment
    settings = ctx.spec.environments.get(name) if name else None
    if settings is None:
        return
    for key in GATES:
        if key in settings.model_fields_set:
            ctx.report.note(
                f"environments.{name}.{key}",
                "promotion gates and hosts are changeover's: not rendered (the overlay `spec` is)",
            )
