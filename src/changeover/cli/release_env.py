"""Where `release` commands find an environment: its settings in the spec here, and its
agent (here, or over ssh on its host).

Invariant: `client_for` is the one place that knows how to reach an environment's agent;
an environment the spec does not define exits 2 before any agent is asked.
"""

from __future__ import annotations

from pathlib import Path

from changeover.cli.client import AgentClient
from changeover.cli.common import BAD_INPUT, environment_paths, fail
from changeover.spec.environments import EnvironmentSettings
from changeover.spec.load import SpecError, load_spec_data, parse_toml, read_spec


def client_for(spec_file: Path, environment: str) -> AgentClient:
    """The client of `environment`'s agent, here or over ssh on its host."""
    return AgentClient(environment_paths(spec_file, environment))


def environments(spec_file: Path) -> dict[str, EnvironmentSettings]:
    """The spec's environments, without the checks of files beside it (a machine that
    builds and promotes releases need not hold the hosts' env files)."""
    try:
        data = parse_toml(read_spec(spec_file), str(spec_file))
        return dict(load_spec_data(data, str(spec_file)).environments)
    except SpecError as exc:
        fail(BAD_INPUT, *exc.lines())


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
