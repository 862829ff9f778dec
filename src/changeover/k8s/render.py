"""The entry point: a loaded spec and the options in, manifests and a report out.

Invariant: pure and deterministic: the same spec and options give the same manifests in
the same order (flags ConfigMap, workload, Services, PodDisruptionBudget,
AnalysisTemplates), so rendered files diff cleanly and golden files hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from changeover.k8s import flags, unmapped
from changeover.k8s.context import Context
from changeover.k8s.draft import Manifest
from changeover.k8s.options import Options
from changeover.k8s.report import Finding
from changeover.k8s.rollout import rollout
from changeover.k8s.termination import Plan, plan
from changeover.k8s.workload import deployment, disruption_budget, service
from changeover.spec.models import Spec


@dataclass(frozen=True)
class Rendering:
    manifests: list[Manifest]
    findings: list[Finding]
    plan: Plan

    @property
    def lossy(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "lossy"]


def render(spec: Spec, options: Options) -> Rendering:
    ctx = Context.of(spec, options)
    stop = plan(spec.termination, options.endpoint_delay, options.kube_version)
    if stop.sleep == 0:
        ctx.report.note(
            "--endpoint-delay",
            "0: no preStop sleep; requests routed to a "
            "stopping pod before its endpoint is removed everywhere may fail",
        )
    manifests: list[Manifest] = []
    flag_map = flags.config_map(ctx)
    if flag_map is not None:
        manifests.append(flag_map)
    if options.rollouts:
        workload = rollout(ctx, stop)
        manifests += [
            *workload[:1],
            *_services(workload),
            disruption_budget(ctx),
            *_templates(workload),
        ]
    else:
        why = "clients reach the Service on the port they used locally"
        manifests += [
            deployment(ctx, stop),
            service(ctx, ctx.names.base, "proxy.listen", spec.proxy.listen, why),
            disruption_budget(ctx),
        ]
    unmapped.report(ctx)
    return Rendering(manifests, list(ctx.report.findings), stop)


def _services(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m.kind == "Service"]


def _templates(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m.kind == "AnalysisTemplate"]
