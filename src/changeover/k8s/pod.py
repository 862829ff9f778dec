"""The pod template: one container running `app.command` with its env, probes and stop.

Invariant: no secret value is ever rendered: a `secret_env` variable is a `secretKeyRef`
to the Secret `<name>-secrets`, whatever the env files hold; the container's environment
keeps the spec's precedence (`env` < `env_file`), then the variables the agent itself
gives every replica, mapped to their pod equivalents.
"""

from __future__ import annotations

from typing import Any

from changeover.k8s.command import rewrite
from changeover.k8s.context import PORT_NAME, Context
from changeover.k8s.draft import Draft, Origin
from changeover.k8s.flags import FLAGS_DIR, FLAGS_FILE, flags_env, flags_volume
from changeover.k8s.probes import probe
from changeover.k8s.sources import fixed, option
from changeover.k8s.termination import Plan

Entry = tuple[dict[str, Any], Origin]


def pod_template(ctx: Context, draft: Draft, plan: Plan, at: str = "spec.template") -> None:
    c = f"{at}.spec.containers[0]"
    labels_why = "every pod carries the labels the selectors and Services match"
    draft.put(f"{at}.metadata.labels", ctx.names.labels, fixed(labels_why))
    draft.put(f"{c}.name", ctx.names.base, ctx.sources.origin("app.name"))
    image_why = "the release's image; changeover builds none (default <name>:latest)"
    draft.put(f"{c}.image", ctx.image, option("--image", image_why))
    _command(ctx, draft, c)
    port_why = "the port the rewritten command binds; Services target it by name"
    port = {"name": PORT_NAME, "containerPort": ctx.options.container_port, "protocol": "TCP"}
    draft.put(f"{c}.ports", [port], option("--container-port", port_why))
    for i, (entry, origin) in enumerate(_env(ctx, plan)):
        draft.put(f"{c}.env[{i}]", entry, origin)
    _probes(ctx, draft, c)
    _termination(ctx, draft, plan, at, c)
    if ctx.options.flags is not None:
        draft.put(
            f"{c}.volumeMounts",
            [{"name": "flags", "mountPath": FLAGS_DIR, "readOnly": True}],
            option("--flags", f"the flag document at {FLAGS_DIR}/{FLAGS_FILE}"),
        )
        draft.put(
            f"{at}.spec.volumes",
            [flags_volume(ctx)],
            option("--flags", "the ConfigMap holding the flag document"),
        )


def _command(ctx: Context, draft: Draft, c: str) -> None:
    done = rewrite(ctx.spec.app.command, ctx.options.container_port)
    if done.argv is None:
        ctx.report.lossy(ctx.key("app.command"), done.why)
        return
    draft.put(f"{c}.command", done.argv, ctx.sources.origin("app.command", why=done.why))


def _env(ctx: Context, plan: Plan) -> list[Entry]:
    app, src = ctx.spec.app, ctx.sources
    secret = set(app.secret_env)
    found: dict[str, Entry] = {}
    for name, value in app.env.items():
        found[name] = ({"name": name, "value": value}, src.origin(f"app.env.{name}"))
    for name, value in ctx.options.env_file.items():
        if name not in secret:
            why = "a non-secret value of the env file, read at render as `deploy` reads it"
            found[name] = ({"name": name, "value": value}, src.origin("app.env_file", why=why))
    for name in app.secret_env:
        ref = {"secretKeyRef": {"name": ctx.names.suffixed("secrets"), "key": name}}
        why = f"never a value: key {name} of the Secret {ctx.names.suffixed('secrets')}"
        found[name] = ({"name": name, "valueFrom": ref}, src.origin("app.secret_env", why=why))
    for entry, origin in _agent_env(ctx, plan):
        found[entry["name"]] = (entry, origin)
    return list(found.values())


def _agent_env(ctx: Context, plan: Plan) -> list[Entry]:
    """What the agent gives each replica, as a pod can have it."""
    term = ctx.sources.origin(
        "termination.drain_timeout",
        "termination.grace_period",
        options=("--endpoint-delay",),
        why=f"changeover.runtime exits before SIGKILL: {plan.after_signal}s from SIGTERM "
        f"(terminationGracePeriodSeconds {plan.period}s minus the preStop hook's "
        f"{plan.sleep + plan.hook_bound}s at most)",
    )
    entries: list[Entry] = [
        (
            {"name": "PORT", "value": str(ctx.options.container_port)},
            option("--container-port", "the port the server binds, as the agent sets $PORT"),
        ),
        (
            {"name": "CHANGEOVER_VERSION", "value": ctx.version},
            option("--image", "the image's tag stands for the release's version"),
        ),
        (
            {
                "name": "CHANGEOVER_REPLICA",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
            },
            fixed("the pod's name stands for the replica id"),
        ),
        ({"name": "CHANGEOVER_GRACE_PERIOD", "value": f"{plan.after_signal}s"}, term),
    ]
    if plan.drain_env is not None:
        why = "changeover.runtime waits this long for in-flight requests after SIGTERM"
        entries.append(
            (
                {"name": "CHANGEOVER_DRAIN_TIMEOUT", "value": plan.drain_env},
                ctx.sources.origin("termination.drain_timeout", why=why),
            )
        )
    entries += flags_env(ctx)
    return entries


_PROBE_KEYS = {
    "httpGet": "path",
    "initialDelaySeconds": "initial_delay",
    "periodSeconds": "period",
    "timeoutSeconds": "timeout",
    "successThreshold": "success_threshold",
    "failureThreshold": "failure_threshold",
}


def _probes(ctx: Context, draft: Draft, c: str) -> None:
    for kind in ("startup", "readiness", "liveness"):
        spec_probe = getattr(ctx.spec.probes, kind)
        if spec_probe is None:
            continue
        mapped = probe(kind, spec_probe, PORT_NAME)
        key = f"probes.{kind}"
        for field, value in mapped.body.items():
            name = _PROBE_KEYS[field]
            why = "; ".join(r for r in mapped.rounded if r.startswith(name)) or (
                "on the container port, by name" if field == "httpGet" else ""
            )
            draft.put(
                f"{c}.{kind}Probe.{field}", value, ctx.sources.origin(f"{key}.{name}", why=why)
            )
        if mapped.rounded:
            ctx.report.note(
                ctx.key(key),
                "rounded up to the whole seconds Kubernetes takes: " + "; ".join(mapped.rounded),
            )


def _termination(ctx: Context, draft: Draft, plan: Plan, at: str, c: str) -> None:
    src = ctx.sources
    period_origin = src.origin(
        "termination.drain_timeout",
        "termination.grace_period",
        options=("--endpoint-delay",),
        why=f"no shorter than the preStop hook + drain + grace: {plan.arithmetic()}",
    )
    draft.put(f"{at}.spec.terminationGracePeriodSeconds", plan.period, period_origin)
    if plan.pre_stop is None:
        return
    keys = ("termination.pre_stop",) if ctx.spec.termination.pre_stop else ()
    kind = "the native sleep action" if "sleep" in plan.pre_stop else "an exec"
    why = (
        f"{kind}: {plan.sleep}s for the endpoint removal to reach kube-proxy and the "
        "ingress before SIGTERM, serving what still arrives"
        + (f"; then pre_stop, for at most {plan.hook_bound}s (grace_period)" if keys else "")
    )
    draft.put(
        f"{c}.lifecycle.preStop",
        plan.pre_stop,
        src.origin(*keys, options=("--endpoint-delay", "--kube-version"), why=why),
    )
