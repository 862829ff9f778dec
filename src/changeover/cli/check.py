"""`changeover check [--json]`: validate the spec; every problem as `file: key.path: message`.

Invariant: without `-E`, the base spec, every environment's merged spec and the pipeline
are all checked in one pass, so one run lists every problem there is; with `-E NAME`,
that environment's merged spec. Text and `--json` say the same things: a spec with a
problem exits 2 either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from changeover.cli.common import (
    BAD_INPUT,
    DEFAULT_SPEC,
    Json,
    SpecFile,
    environment,
    err,
    out,
    spec_path,
)
from changeover.spec.environments import runs_here
from changeover.spec.load import SpecError, load_every_environment, load_spec
from changeover.spec.models import Spec
from changeover.tlsfiles import CERT_KEY, TlsFileError, expiry, load_pair

BASE = "the base spec"


@dataclass
class Report:
    """What one check found: the specs it validated, the HAProxy it found, the problems."""

    path: Path
    selected: str | None
    specs: dict[str | None, Spec] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)
    haproxy: dict[str, Any] | None = None
    missing: str | None = None  # why HAProxy is not usable here, when a spec needs it
    warnings: list[dict[str, str]] = field(default_factory=list)  # not problems: exit 0

    def doc(self) -> dict[str, Any]:
        return {
            "ok": not self.problems and self.missing is None,
            "spec": str(self.path),
            "environment": self.selected,
            "environments": [self.described(name, spec) for name, spec in self.specs.items()],
            "haproxy": self.haproxy,
            "problems": self.problems + self.engine_problems(),
            "warnings": self.warnings,
        }

    def engine_problems(self) -> list[dict[str, str]]:
        if self.missing is None:
            return []
        return [{"file": str(self.path), "where": "proxy.engine", "message": self.missing}]

    def described(self, name: str | None, spec: Spec) -> dict[str, Any]:
        settings = spec.environments.get(name) if name is not None else None
        return {
            "name": name,
            "service": spec.app.name,
            "replicas": spec.app.replicas,
            "strategy": spec.strategy.type,
            "listen": spec.proxy.listen,
            "engine": spec.proxy.engine,
            "promote_from": settings.promote_from if settings else None,
            "host": settings.host if settings else None,
            "notes": self.notes(name, spec),
        }

    def notes(self, name: str | None, spec: Spec) -> list[str]:
        """What was left unchecked here, and why."""
        settings = spec.environments.get(name) if name is not None else None
        group = spec.control.group
        if settings is None or not group or self.runs_here(name):
            return []
        # the group is checked where the socket is made: that host's `check` or `up`
        return [f"control.group {group!r} not checked: it must exist on {settings.host}"]

    def runs_here(self, name: str | None) -> bool:
        if name is None or self.selected is not None:
            return True  # with -E, a remote environment's `check` runs on its host
        return runs_here({"host": self.specs[None].environments[name].host}, self.path.parent)


def check(file: SpecFile = DEFAULT_SPEC, json: Json = False) -> None:
    """Validate the spec file; exit 2 listing every problem."""
    report = Report(spec_path(file), environment())
    try:
        if report.selected is not None:
            report.specs = {report.selected: load_spec(report.path, report.selected)}
        else:
            report.specs = load_every_environment(report.path)
    except SpecError as exc:
        report.problems = [
            {"file": exc.source, "where": p.path, "message": p.message} for p in exc.problems
        ]
    else:
        engines(report)
        certificates(report)
    if json:
        out.print_json(data=report.doc())
    else:
        show(report)
    if report.problems or report.missing:
        raise typer.Exit(BAD_INPUT)


def engines(report: Report) -> None:
    """The haproxy engine needs HAProxy on this machine: which one runs, or a problem
    with the install hint."""
    users = [
        name or BASE
        for name, spec in report.specs.items()
        if spec.proxy.engine == "haproxy" and report.runs_here(name)
    ]
    if not users:
        return
    from changeover.haproxy.process import HaproxyMissing, find_binary, version

    try:
        binary = find_binary()
    except HaproxyMissing as exc:
        report.missing = f"({', '.join(users)}): {exc}"
        return
    report.haproxy = {"binary": binary, "version": version(binary), "used_by": users}


def certificates(report: Report) -> None:
    """A TLS certificate near or past its end (`tlsfiles.expiry`): a warning, once per
    pair of files, not a problem."""
    seen: set[tuple[Path, Path]] = set()
    base = report.path.parent
    for name, spec in report.specs.items():
        tls = spec.proxy.tls
        if tls is None or not report.runs_here(name):
            continue
        files = (base / tls.cert, base / tls.key)
        if files in seen:
            continue
        seen.add(files)
        try:
            pair = load_pair(*files)
        except TlsFileError:
            continue  # a problem already, from the spec's own rules
        warning = expiry(pair, datetime.now(UTC))
        if warning is not None:
            where = {"file": str(report.path), "where": CERT_KEY}
            report.warnings.append({**where, "message": warning})


def show(report: Report) -> None:
    """The text output: one line per spec checked, the HAProxy found, then the problems
    (on stderr, as `file: key.path: message`)."""
    for name, spec in report.specs.items():
        if name is None or report.selected is not None:
            out.print(f"{report.path}: ok ({summary(spec)})", markup=False)
            continue
        settings = report.specs[None].environments[name]
        source = settings.promote_from
        after = f", promoted from {source}" if source else ""
        after += "".join(f"; {note}" for note in report.notes(name, spec))
        out.print(f"  environment {name}: {summary(spec)}{after}", markup=False)
    if report.haproxy is not None:
        found = report.haproxy
        out.print(f"engine haproxy: HAProxy {found['version']} ({found['binary']})", markup=False)
    for warning in report.warnings:
        err.print(
            f"warning: {warning['file']}: {warning['where']}: {warning['message']}", markup=False
        )
    for problem in report.problems:
        err.print(f"{problem['file']}: {problem['where']}: {problem['message']}", markup=False)
    if report.missing is not None:
        err.print(f"proxy.engine {report.missing}", markup=False)


def summary(spec: Spec) -> str:
    return (
        f"{spec.app.name}: {spec.app.replicas} replica(s), strategy {spec.strategy.type}, "
        f"listening on {spec.proxy.listen}"
        + ("" if spec.proxy.engine == "builtin" else f", engine {spec.proxy.engine}")
    )
