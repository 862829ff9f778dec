"""Where `release` commands find an environment: its settings in the spec here, and its
agent (here, or over ssh on its host).

Invariant: `client_for` is the one place that knows how to reach an environment's agent;
an environment the spec does not define exits 2 before any agent is asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from changeover.cli.client import AgentClient, Refused, Unreachable
from changeover.cli.common import BAD_INPUT, environment_paths, fail
from changeover.spec.environments import EnvironmentSettings
from changeover.spec.load import SpecError, load_spec_data, parse_toml, read_spec
from changeover.spec.models import Spec


def client_for(spec_file: Path, environment: str) -> AgentClient:
    """The client of `environment`'s agent, here or over ssh on its host."""
    return AgentClient(environment_paths(spec_file, environment))


def base_spec(spec_file: Path) -> Spec:
    """The base spec, without the checks of files beside it (a machine that builds and
    promotes releases need not hold the hosts' env files)."""
    try:
        data = parse_toml(read_spec(spec_file), str(spec_file))
        return load_spec_data(data, str(spec_file))
    except SpecError as exc:
        fail(BAD_INPUT, *exc.lines())


def environments(spec_file: Path) -> dict[str, EnvironmentSettings]:
    """The spec's environments, in the spec's order."""
    return dict(base_spec(spec_file).environments)


def last_environments(envs: dict[str, EnvironmentSettings]) -> list[str]:
    """The environments at the end of a promotion chain (production): promoted to from
    another, and promoted from by none."""
    sources = {s.promote_from for s in envs.values()}
    return [name for name, s in envs.items() if s.promote_from and name not in sources]


def settings_of(spec_file: Path, name: str) -> EnvironmentSettings:
    """Environment `name`'s settings in the spec here; exit 2 naming the defined ones."""
    envs = environments(spec_file)
    if name not in envs:
        known = ", ".join(sorted(envs)) or "none"
        fail(BAD_INPUT, f"{spec_file}: unknown environment {name!r}; the spec defines: {known}")
    return envs[name]


def soaks(settings: EnvironmentSettings) -> bool:
    """Whether promotions to an environment with these settings need soak evidence."""
    return bool(settings.soak or settings.soak_requests or settings.soak_analysis)


def environment_view(spec_file: Path, name: str, version: str, sha256: str) -> dict[str, Any]:
    """What `name`'s agent says of release `version`; unreachable is a state, not an error."""
    try:
        with client_for(spec_file, name) as client:
            held = held_by(client, version)
            found = client.get("/v1/promotions", version=version)
    except (Unreachable, Refused) as exc:
        return {"name": name, "reachable": False, "error": str(exc).splitlines()[0]}
    return {
        "name": name,
        "reachable": True,
        "error": None,
        "held": held,
        "same_digest": None if held is None else held["sha256"] == sha256,
        "promotions": found["promotions"],
        "freezes": [f for f in found.get("freezes", []) if f.get("active")],
    }


def held_by(client: AgentClient, version: str) -> dict[str, Any] | None:
    try:
        held: dict[str, Any] = client.get(f"/v1/artifacts/{version}")
    except Refused as exc:
        if exc.status == 404:
            return None
        raise
    return held
