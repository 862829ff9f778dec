"""Which release `changeover verify` deploys: the one given, or the stable one again.

Invariant: without `--version` the body re-deploys the stable revision's own release
(version, path, command, env, as `GET /v1/history` reports them) with only the options
the user gave laid over it; with `--version` it is exactly what `deploy` would send. A
secret's digest is never sent back as a value: the agent reads secrets from their sources.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any


class NothingToRedeploy(ValueError):
    """No `--version` was given and the agent has no stable revision to deploy again."""


@dataclass(frozen=True, slots=True)
class ReleaseOptions:
    """The deploy options of `verify`, as given (paths already absolute)."""

    version: str | None = None
    path: str | None = None
    command: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    strategy: str | None = None


def deploy_body(
    options: ReleaseOptions,
    spec_text: str,
    spec_path: str,
    history: dict[str, Any],
    secret: Collection[str] = (),
) -> tuple[dict[str, Any], bool]:
    """The `POST /v1/deploy` body, and whether it re-deploys the stable release; `secret`
    names the spec's secret variables, left out of the stable release's env."""
    body: dict[str, Any] = {
        "version": options.version,
        "spec_text": spec_text,
        "spec_path": spec_path,
        "path": options.path,
        "command": options.command,
        "env": dict(options.env),
        "strategy": options.strategy,
    }
    if options.version is not None:
        return body, False
    stable = stable_release(history)
    body["version"] = stable["version"]
    body["path"] = options.path or stable["path"]
    body["command"] = options.command or stable["command"]
    kept = {k: v for k, v in stable["env"].items() if k not in secret}
    body["env"] = {**kept, **options.env}
    return body, True


def stable_release(history: dict[str, Any]) -> dict[str, Any]:
    """The stable revision's entry in a `history --json` document."""
    number = history.get("stable_revision")
    if number is None:
        raise NothingToRedeploy(
            "no stable revision to re-deploy: start the service with `changeover up` "
            "or pass --version"
        )
    for revision in history.get("revisions", []):
        if revision.get("revision") == number:
            return dict(revision)
    raise NothingToRedeploy(f"the agent lists stable revision {number} but not its release")
