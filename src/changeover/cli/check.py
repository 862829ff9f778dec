"""`changeover check`: validate the spec; every problem as `file: key.path: message`."""

from __future__ import annotations

from changeover.cli.common import DEFAULT_SPEC, SpecFile, load, out


def check(file: SpecFile = DEFAULT_SPEC) -> None:
    """Validate the spec file; exit 2 listing every problem."""
    spec, path = load(file)
    s = spec.strategy
    out.print(
        f"{path}: ok ({spec.app.name}: {spec.app.replicas} replica(s), strategy {s.type}, "
        f"listening on {spec.proxy.listen})"
    )
