"""`changeover k8s render|explain`: the spec as Kubernetes manifests, and why each value.

Invariant: the files are read here (spec, its environment overlay, `app.env_file`,
`--flags FILE`) and the rendering itself is pure (`changeover.k8s`). `render` prints or
writes manifests only when every spec key is rendered as the spec asks, or with
`--allow-lossy`; otherwise it exits 2 listing what cannot be (the report goes to stderr
either way, stdout carries only the manifests). Exit codes: 0 done, 2 bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from changeover.cli.common import (
    BAD_INPUT,
    DEFAULT_SPEC,
    Json,
    SpecFile,
    duration_option,
    environment,
    err,
    fail,
    load,
    out,
    select_environment,
)
from changeover.cli.flags import FlagFileError, read_flags_file
from changeover.k8s.options import DEFAULT_KUBE_VERSION, KubeVersion, Options, Router
from changeover.spec.envfile import EnvFileError, read_env_file
from changeover.spec.load import parse_toml, read_spec
from changeover.spec.models import Spec
from changeover.spec.strategy import StrategyName

if TYPE_CHECKING:
    from changeover.k8s.render import Rendering

app = typer.Typer(
    no_args_is_help=True,
    help="Kubernetes manifests from the spec: a Deployment, or an Argo Rollout.",
    rich_markup_mode=None,
)

Environment = Annotated[
    str | None,
    typer.Option("-E", "--environment", metavar="NAME", help="Render environment NAME's spec."),
]
Rollouts = Annotated[
    bool, typer.Option("--rollouts", help="An Argo Rollouts Rollout and AnalysisTemplates.")
]
TrafficRouter = Annotated[
    str,
    typer.Option(
        "--traffic-router",
        metavar="R",
        help="nginx (ingress-nginx), istio or none: who weights traffic, whose metrics "
        "analysis reads (--rollouts).",
    ),
]
KubeVersionOption = Annotated[
    str,
    typer.Option("--kube-version", metavar="V", help="Target Kubernetes version, 1.25 to 1.37."),
]
Strategy = Annotated[
    str | None,
    typer.Option("--strategy", metavar="S", help="Render this strategy instead of strategy.type."),
]
Image = Annotated[
    str | None, typer.Option("--image", metavar="REF", help="Image (default: NAME:latest).")
]
ContainerPort = Annotated[
    int,
    typer.Option("--container-port", metavar="PORT", min=1, max=65535, help="Port the app binds."),
]
Prometheus = Annotated[
    str,
    typer.Option("--prometheus", metavar="URL", help="Prometheus the analysis queries."),
]
FlagsFile = Annotated[
    Path | None,
    typer.Option("--flags", metavar="FILE", help="Flags (as `flags set` takes) for a ConfigMap."),
]
EndpointDelay = Annotated[
    float,
    duration_option(
        "--endpoint-delay",
        help="How long the preStop hook waits for the endpoint removal to propagate.",
        default=5.0,
    ),
]


def render_command(
    environment_name: Environment = None,
    rollouts: Rollouts = False,
    traffic_router: TrafficRouter = "nginx",
    output_dir: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="DIR", help="Write one file per object into DIR."),
    ] = None,
    kube_version: KubeVersionOption = DEFAULT_KUBE_VERSION,
    allow_lossy: Annotated[
        bool,
        typer.Option("--allow-lossy", help="Render even when some keys cannot be (exit 0)."),
    ] = False,
    strategy: Strategy = None,
    image: Image = None,
    container_port: ContainerPort = 8000,
    endpoint_delay: EndpointDelay = 5.0,
    prometheus: Prometheus = "http://prometheus.monitoring:9090",
    flags: FlagsFile = None,
    file: SpecFile = DEFAULT_SPEC,
    json: Json = False,
) -> None:
    """Print the manifests as YAML (or write them with -o DIR); exit 2 with the report when
    a key cannot be rendered as the spec asks, unless --allow-lossy."""
    from changeover.k8s import output  # YAML and the mapping: loaded by this command only

    rendering, source = _rendering(
        environment_name,
        file,
        rollouts,
        traffic_router,
        kube_version,
        strategy,
        image,
        container_port,
        endpoint_delay,
        prometheus,
        flags,
    )
    refused = bool(rendering.lossy) and not allow_lossy
    for finding in rendering.findings:
        err.print(finding.line(), markup=False, soft_wrap=True)
    if json:
        out.print(output.render_json(rendering, not refused), markup=False, soft_wrap=True)
    if refused:
        fail(
            BAD_INPUT,
            f"{len(rendering.lossy)} key(s) cannot be rendered as the spec asks (lossy: above); "
            "change the spec, or pass --allow-lossy to render without them",
        )
    if json:
        return
    head = output.header(source, kube_version)
    if output_dir is None:
        sys.stdout.write(output.yaml_stream(rendering, head))
        return
    _write(rendering, output_dir, head)


def explain(
    environment_name: Environment = None,
    rollouts: Rollouts = False,
    traffic_router: TrafficRouter = "nginx",
    kube_version: KubeVersionOption = DEFAULT_KUBE_VERSION,
    strategy: Strategy = None,
    image: Image = None,
    container_port: ContainerPort = 8000,
    endpoint_delay: EndpointDelay = 5.0,
    prometheus: Prometheus = "http://prometheus.monitoring:9090",
    flags: FlagsFile = None,
    file: SpecFile = DEFAULT_SPEC,
    json: Json = False,
) -> None:
    """For each rendered value: the spec key it comes from, and why; the termination
    arithmetic first, the keys not rendered as the spec says last."""
    from changeover.k8s import output

    rendering, _ = _rendering(
        environment_name,
        file,
        rollouts,
        traffic_router,
        kube_version,
        strategy,
        image,
        container_port,
        endpoint_delay,
        prometheus,
        flags,
    )
    text = output.explain_json(rendering) if json else output.explain_text(rendering)
    out.print(text, markup=False, soft_wrap=True, end="")


app.command("render")(render_command)
app.command("explain")(explain)


def _rendering(
    environment_name: str | None,
    file: Path,
    rollouts: bool,
    traffic_router: str,
    kube_version: str,
    strategy: str | None,
    image: str | None,
    container_port: int,
    endpoint_delay: float,
    prometheus: str,
    flags: Path | None,
) -> tuple[Rendering, str]:
    from changeover.k8s.render import render

    select_environment(environment_name)
    spec, path = load(file)
    name = environment()
    try:
        options = Options(
            kube_version=KubeVersion.parse(kube_version),
            rollouts=rollouts,
            router=Router.parse(traffic_router),
            image=image,
            container_port=container_port,
            endpoint_delay=endpoint_delay,
            prometheus=prometheus,
            strategy=None if strategy is None else _strategy(strategy),
            environment=name,
            overlay=_overlay(path, name),
            env_file=_env_file(spec, path),
            flags=None if flags is None else _flags(flags),
        )
    except ValueError as exc:
        fail(BAD_INPUT, str(exc))
    return render(spec, options), file.name


def _strategy(text: str) -> StrategyName:
    try:
        return StrategyName.parse(text)
    except ValueError as exc:
        raise ValueError(f"--strategy: {exc}") from None


def _overlay(path: Path, name: str | None) -> dict[str, Any]:
    if name is None:
        return {}
    data = parse_toml(read_spec(path), str(path))  # already loaded once: it parses
    overlay = data.get("environments", {}).get(name, {}).get("spec", {})
    return overlay if isinstance(overlay, dict) else {}


def _env_file(spec: Spec, path: Path) -> dict[str, str]:
    if spec.app.env_file is None:
        return {}
    try:
        values = read_env_file(path.parent / spec.app.env_file)
    except EnvFileError as exc:
        fail(BAD_INPUT, f"app.env_file: {exc}")
    secret = set(spec.app.secret_env)
    return {k: v for k, v in values.items() if k not in secret}  # secrets never leave here


def _flags(path: Path) -> dict[str, Any]:
    from changeover.k8s.flags import FlagsError, document

    try:
        return document(read_flags_file(path), str(path))
    except FlagFileError as exc:
        fail(BAD_INPUT, str(exc))
    except FlagsError as exc:
        fail(BAD_INPUT, *exc.lines)


def _write(rendering: Rendering, directory: Path, head: str) -> None:
    from changeover.k8s import output

    try:
        directory.mkdir(parents=True, exist_ok=True)
        for manifest in rendering.manifests:
            target = directory / manifest.filename
            target.write_text(output.yaml_document(manifest, head), encoding="utf-8")
            out.print(str(target), markup=False, soft_wrap=True)
    except OSError as exc:
        fail(BAD_INPUT, f"-o {directory}: cannot write: {exc.strerror}")
