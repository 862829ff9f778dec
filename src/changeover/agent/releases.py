"""From a deploy request to a stored revision, and from a revision to what runs.

Invariant: a revision is immutable once stored; everything the supervisor and the
rollout need (template, rolling parameters) is derived from its stored snapshot, so a
restarted agent runs exactly what was deployed, whatever changed in the spec file since.
The one exception is a secret's value, which is never stored: the template reads it from
the source the revision recorded each time a replica starts (`secret_env`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from changeover.agent.artifacts import Held
from changeover.agent.secret_env import EnvFile, SecretError, SecretReader, release_env
from changeover.rollout.rolling import RollingParams
from changeover.spec.load import SpecError, load_spec_data, load_spec_text
from changeover.spec.models import Spec
from changeover.spec.strategy import StrategyName
from changeover.spec.types import ENV_NAME, CommandLine
from changeover.supervisor.spawn import SpawnError
from changeover.supervisor.supervisor import ReplicaTemplate


class BadRequest(Exception):
    """The request cannot be carried out as given; `lines` say what to fix."""

    def __init__(self, *lines: str) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(lines))


class GateRefused(BadRequest):
    """Refused by a safety rule, not for bad input: the move would break something (an
    undo to code the contracted schema no longer fits). 412 on the API, exit 1."""


class DeployRequest(BaseModel):
    """Body of POST /v1/deploy; the CLI resolves paths to absolute ones before sending."""

    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, max_length=128)
    spec_text: str
    spec_path: str
    path: str | None = None
    command: CommandLine | None = None
    env: dict[str, str] = Field(default_factory=dict)
    env_file: str | None = None  # `--env-file`, read by the agent (as secrets' source too)
    strategy: StrategyName | None = None  # None: the spec's `strategy.type`
    force: bool = False  # deploy to a gated environment anyway (recorded with who)


class UndoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_revision: int | None = Field(default=None, ge=1)
    force: bool = False  # past a contract the schema says the target's code cannot use


def release_fields(
    spec: Spec,
    request: DeployRequest,
    key: Callable[[], bytes],
    environ: Mapping[str, str] = os.environ,
    *,
    env_base: Path | None = None,
) -> dict[str, Any]:
    """Version, path, command, env (a digest per secret), where each secret comes from,
    and the spec snapshot of the revision to create. Env files are read relative to
    `env_base` (default: the spec's folder; a release artifact: the host's)."""
    base = Path(request.spec_path).parent
    workdir = Path(request.path) if request.path else (base / spec.app.workdir)
    workdir = workdir.resolve()
    if not workdir.is_dir():
        raise BadRequest(f"--path: directory {str(workdir)!r} does not exist")
    bad = [k for k in request.env if not ENV_NAME.fullmatch(k)]
    if bad:
        raise BadRequest(f"--env: invalid variable name {bad[0]!r}; expected KEY=VALUE")
    try:
        env = release_env(
            spec_env=spec.app.env,
            files=env_files(spec, env_base or base, request.env_file),
            cli_env=request.env,
            secret=spec.app.secret_env,
            environ=environ,
            key=key,
        )
    except SecretError as exc:
        raise BadRequest(*exc.args) from None
    return {
        "version": request.version,
        "path": str(workdir),
        "command": request.command or spec.app.command,
        "env": env.env,
        "secret_sources": env.sources,
        "spec": spec.model_dump(mode="json"),
        "replicas": spec.app.replicas,
    }


def release_request(
    held: Held, spec_file: str, environment: str | None
) -> tuple[Spec, DeployRequest]:
    """The spec a held release artifact runs with (its own spec file, with this agent's
    environment merged in) and the deploy of it: path and workdir inside the artifact."""
    spec_path = held.path / spec_file
    try:
        text = spec_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadRequest(
            f"release {held.version} has no spec file {spec_file!r} ({exc.strerror}); "
            "it was created with another -f FILE"
        ) from None
    try:  # no folder checks: env files are the host's, the workdir is checked below
        spec = load_spec_text(text, str(spec_path), environment=environment)
    except SpecError as exc:
        raise BadRequest(*exc.lines()) from None
    root = held.path.resolve()
    workdir = (root / spec.app.workdir).resolve()
    if not workdir.is_relative_to(root) or not workdir.is_dir():
        raise BadRequest(
            f"{spec_path}: app.workdir: {spec.app.workdir!r} is no folder inside the release"
        )
    request = DeployRequest(version=held.version, spec_text=text, spec_path=str(spec_path))
    return spec, request


def env_files(spec: Spec, base: Path, env_file: str | None) -> list[EnvFile]:
    """The env files of a release, lowest precedence first. Paths are made absolute but
    symlinks are kept: a replica reads its secrets through them when it starts."""
    files = []
    if spec.app.env_file is not None:
        files.append(EnvFile(Path(os.path.abspath(base / spec.app.env_file)), "app.env_file"))
    if env_file is not None:
        if not os.path.isabs(env_file):
            raise BadRequest(f"--env-file: expected an absolute path, got {env_file!r}")
        files.append(EnvFile(Path(os.path.normpath(env_file)), "--env-file"))
    return files


def revision_spec(revision_id: int, snapshot: dict[str, Any]) -> Spec:
    return load_spec_data(snapshot, f"revision {revision_id}")


# The agent's own service-manager variables: a replica that inherited NOTIFY_SOCKET would
# speak to systemd for the agent (gunicorn sends READY=1 as soon as it boots).
_AGENT_ONLY = frozenset({"NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC"})


def replica_env(release_env: dict[str, str]) -> dict[str, str]:
    """The agent's environment (but its service-manager variables) plus the release's;
    tools installed beside changeover stay reachable (appended to PATH, so the user's
    own PATH still wins)."""
    inherited = {k: v for k, v in os.environ.items() if k not in _AGENT_ONLY}
    env = {**inherited, **release_env}
    here = os.path.dirname(sys.executable)
    path = env.get("PATH", os.defpath)
    if here not in path.split(os.pathsep):
        env["PATH"] = f"{path}{os.pathsep}{here}" if path else here
    return env


def template_for(
    revision_id: int,
    version: str,
    path: str,
    command: str,
    env: dict[str, str],
    spec: Spec,
    secrets: SecretReader | None = None,
) -> ReplicaTemplate:
    """What every replica of a revision runs. No secret is in its `env` (the stored env
    holds digests, and the agent's own copy is left out too): `secrets` adds them, read
    when each replica starts."""
    secret: Collection[str] = () if secrets is None else secrets.sources
    public = {k: v for k, v in replica_env(env).items() if k not in secret}
    return ReplicaTemplate(
        revision=revision_id,
        version=version,
        command=command,
        workdir=Path(path),
        # changeover.runtime in the app exits before this deadline (docs/runtime.md)
        env={**public, "CHANGEOVER_GRACE_PERIOD": f"{spec.termination.grace_period:g}"},
        probes=spec.probes,
        termination=spec.termination,
        secrets=None if secrets is None else _spawn_secrets(secrets),
    )


def _spawn_secrets(reader: SecretReader) -> Callable[[str], dict[str, str]]:
    """The supervisor's view of a reader: what it cannot read fails the start."""

    def read(who: str) -> dict[str, str]:
        try:
            return reader.values(who)
        except SecretError as exc:
            raise SpawnError(str(exc)) from None

    return read


def rolling_params(spec: Spec, stable_replicas: int | None) -> RollingParams:
    n = spec.app.replicas
    strategy = spec.strategy
    return RollingParams(
        replicas=n,
        max_surge=strategy.max_surge.resolve(n, round_up=True),
        max_unavailable=strategy.max_unavailable.resolve(n, round_up=False),
        min_ready=strategy.min_ready,
        progress_deadline=strategy.progress_deadline,
        stable_replicas=stable_replicas,
        rollback_deadline=strategy.rollback_deadline,
    )
