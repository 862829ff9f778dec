"""`changeover deploy` and `changeover undo`: start a rollout and follow it to its end."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from changeover.agent.secret_env import refusal
from changeover.cli.client import AgentClient
from changeover.cli.common import (
    BAD_INPUT,
    DEFAULT_SPEC,
    FAILED,
    OK,
    Json,
    SpecFile,
    StateDir,
    environment,
    err,
    fail,
    out,
    spec_path,
    state_paths,
)
from changeover.cli.follow import events_after, follow_attached
from changeover.cli.remote import deploy_on_host
from changeover.cli.ssh import RemotePaths
from changeover.spec.load import SpecError, load_spec_text
from changeover.spec.models import Spec
from changeover.spec.startonly import pending_note
from changeover.spec.strategy import StrategyName

StrategyOption = Annotated[
    str | None,
    typer.Option(
        "--strategy", metavar="[rolling|blue-green|canary]", help="Strategy for this deploy."
    ),
]


def deploy(
    version: Annotated[
        str, typer.Option("--version", metavar="VERSION", help="Version label of the release.")
    ],
    path: Annotated[
        Path | None, typer.Option("--path", metavar="DIR", help="Working directory of the release.")
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env", metavar="KEY=VALUE", help="A variable for this release only; repeatable."
        ),
    ] = None,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            metavar="FILE",
            help="Variables for this release, in dotenv syntax (over the spec's env_file, "
            "under --env); the agent reads it, and its secrets again at each replica start.",
        ),
    ] = None,
    command: Annotated[
        str | None, typer.Option("--command", metavar="CMD", help="Command line of the release.")
    ] = None,
    strategy: StrategyOption = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the rollout started.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Deploy to a gated environment anyway, skipping its gates (an event "
            "records who did and what was skipped).",
        ),
    ] = False,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Create a revision from the spec and roll it out; exit 1 if it is rolled back."""
    name = parse_strategy(strategy)
    spec_file = spec_path(file)
    text = spec_file.read_text(encoding="utf-8")
    try:
        spec = load_spec_text(
            text, str(spec_file), base=spec_file.parent, environment=environment()
        )
    except SpecError as exc:
        fail(BAD_INPUT, *exc.lines())
    pairs = parse_env(env or [])
    refuse_secrets(spec, spec_file, pairs)
    body = {
        "version": version,
        "spec_text": text,
        "spec_path": str(spec_file),
        "path": os.path.abspath(path) if path else None,
        "command": command,
        "env": pairs,
        "env_file": os.path.abspath(env_file) if env_file else None,
        "strategy": name,
        "force": force,
    }
    paths = state_paths(state_dir, spec_file)
    if isinstance(paths, RemotePaths):  # the folders named are the host's
        body = deploy_on_host(paths.remote, body, spec_file, path, env_file)
    with AgentClient(paths) as client:
        run_rollout(client, "/v1/deploy", body, no_wait=no_wait, json=json)


def undo(
    to_revision: Annotated[
        int | None, typer.Option("--to-revision", metavar="N", help="Revision to return to.")
    ] = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the rollout started.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Undo even to code older than a database contract that ran (you restored "
            "the schema yourself); an event records it.",
        ),
    ] = False,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Roll back to the previously stable revision (or --to-revision N); refused (exit 2)
    to a revision older than a database contract that ran."""
    body = {"to_revision": to_revision, "force": force}
    with AgentClient(state_paths(state_dir, file)) as client:
        run_rollout(client, "/v1/undo", body, no_wait=no_wait, json=json)


def run_rollout(
    client: AgentClient, endpoint: str, body: dict[str, Any], *, no_wait: bool, json: bool
) -> None:
    rollout = client.post(endpoint, body)
    pending = rollout.get("pending_reload")  # a deploy's: start-only keys it changed
    if pending:  # the rollout goes on: the agent keeps these until a reload
        err.print(f"note: {pending_note(pending)}", markup=False, soft_wrap=True)
    if no_wait:
        out.print_json(data=rollout) if json else out.print(
            f"rollout {rollout['id']} started: revision {rollout['from_revision']} -> "
            f"{rollout['to_revision']}"
        )
        return
    final = follow_attached(client, rollout, events_after(rollout), quiet=json)
    if json:
        out.print_json(data=final if pending is None else {**final, "pending_reload": pending})
    elif final["phase"] == "succeeded":
        report(final)
    else:
        report(final, client.get("/v1/status"))
    raise typer.Exit(OK if final["phase"] == "succeeded" else FAILED)


def report(rollout: dict[str, Any], status: dict[str, Any] | None = None) -> None:
    """The end of a rollout in one line; `status` (the agent's, after a failure) says what
    serves: a rollback that gave up at its deadline may leave the target serving."""
    target, origin = rollout["to_revision"], rollout["from_revision"]
    if rollout["phase"] == "succeeded":
        out.print(f"[green]revision {target} is stable[/green] (rollout {rollout['id']})")
        return
    serving = f"revision {origin} still serving" if origin else "nothing is serving"
    if status is not None:
        serving = serving_now(status, origin)
    out.print(
        f"[red]rollout {rollout['id']} {rollout['phase']}[/red]: {escape(rollout['reason'])}; "
        f"{serving}",
        soft_wrap=True,
    )


def serving_now(status: dict[str, Any], origin: int | None) -> str:
    stable = status["stable_revision"]
    ready = sum(r["ready"] for r in status["revisions"] if r["revision"] == stable)
    if stable is None or not ready:
        return "nothing is serving"
    if stable == origin:
        return f"revision {stable} still serving"
    return f"revision {stable} serving, now the stable revision"


def parse_strategy(raw: str | None) -> StrategyName | None:
    """`--strategy` as the one strategy enum; exit 2 naming the choices otherwise."""
    if raw is None:
        return None
    try:
        return StrategyName.parse(raw)
    except ValueError as exc:
        fail(BAD_INPUT, f"--strategy: {exc}")


def refuse_secrets(spec: Spec, spec_file: Path, env: dict[str, str]) -> None:
    """Exit 2 if `--env` names a secret: its value must not travel on a command line (the
    agent refuses it too, but then it has already been sent)."""
    named = [k for k in env if k in spec.app.secret_env]
    if named:
        env_file = spec_file.parent / spec.app.env_file if spec.app.env_file else None
        fail(BAD_INPUT, *(refusal(name, env_file) for name in named))


def parse_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(BAD_INPUT, f"--env {pair!r}: expected KEY=VALUE")
        env[key] = value
    return env
