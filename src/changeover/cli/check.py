"""`changeover check`: validate the spec; every problem as `file: key.path: message`.

Invariant: without `-E`, the base spec, every environment's merged spec and the pipeline
are all checked in one pass, so one run lists every problem there is; with `-E NAME`,
that environment's merged spec.
"""

from __future__ import annotations

from pathlib import Path

import typer

from changeover.cli.common import (
    BAD_INPUT,
    DEFAULT_SPEC,
    SpecFile,
    environment,
    err,
    load,
    out,
    spec_path,
)
from changeover.spec.environments import runs_here
from changeover.spec.load import SpecError, load_every_environment
from changeover.spec.models import Spec


def check(file: SpecFile = DEFAULT_SPEC) -> None:
    """Validate the spec file; exit 2 listing every problem."""
    if environment() is not None:
        spec, path = load(file)
        out.print(f"{path}: ok ({summary(spec)})", markup=False)
        engines({None: spec})
        return
    path = spec_path(file)
    try:
        specs = load_every_environment(path)
    except SpecError as exc:
        for line in exc.lines():
            err.print(line, markup=False)
        raise typer.Exit(BAD_INPUT) from None
    show(path, specs)
    engines(
        {
            name: spec
            for name, spec in specs.items()
            if name is None or runs_here({"host": specs[None].environments[name].host}, path.parent)
        }
    )


def engines(specs: dict[str | None, Spec]) -> None:
    """The haproxy engine needs HAProxy on this machine: say which one runs, or exit 2
    with the install hint."""
    users = [
        name or "the base spec" for name, spec in specs.items() if spec.proxy.engine == "haproxy"
    ]
    if not users:
        return
    from changeover.haproxy.process import HaproxyMissing, find_binary, version

    try:
        binary = find_binary()
    except HaproxyMissing as exc:
        err.print(f"proxy.engine ({', '.join(users)}): {exc}", markup=False)
        raise typer.Exit(BAD_INPUT) from None
    out.print(f"engine haproxy: HAProxy {version(binary)} ({binary})", markup=False)


def show(path: Path, specs: dict[str | None, Spec]) -> None:
    base = specs[None]
    out.print(f"{path}: ok ({summary(base)})", markup=False)
    for name, spec in specs.items():
        if name is None:
            continue
        settings = base.environments[name]
        source = settings.promote_from
        after = f", promoted from {source}" if source else ""
        group = spec.control.group
        if group and not runs_here({"host": settings.host}, path.parent):
            # the group is checked where the socket is made: that host's `check` or `up`
            after += f"; control.group {group!r} not checked: it must exist on {settings.host}"
        out.print(f"  environment {name}: {summary(spec)}{after}", markup=False)


def summary(spec: Spec) -> str:
    return (
        f"{spec.app.name}: {spec.app.replicas} replica(s), strategy {spec.strategy.type}, "
        f"listening on {spec.proxy.listen}"
        + ("" if spec.proxy.engine == "builtin" else f", engine {spec.proxy.engine}")
    )
