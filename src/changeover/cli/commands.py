"""The `changeover` commands: one typer app, one module per command group (the program's
entry point, `cli.app.main`, serves `dial` before loading this).

Invariant: agent errors become the contract's exit codes here, in one place:
unreachable agent -> 3, refused request -> 2.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from changeover import __version__
from changeover.cli import (
    alerts,
    check,
    control,
    demo,
    deploy,
    dial,
    down,
    events,
    flags,
    freeze,
    k8s,
    logs,
    migrate,
    release,
    reload,
    run,
    status,
    systemd,
    up,
    verify,
)
from changeover.cli.client import Refused, Unreachable
from changeover.cli.common import (
    BAD_INPUT,
    ENVIRONMENT_VAR,
    FAILED,
    UNREACHABLE,
    err,
    out,
    select_environment,
)

app = typer.Typer(
    name="changeover",
    no_args_is_help=True,
    help="Ship new versions of HTTP services without dropping a single request.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"max_content_width": 100},
)


def _print_version(value: bool) -> None:
    if value:
        out.print(f"changeover {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _root(
    environment: Annotated[
        str | None,
        typer.Option(
            "-E",
            "--environment",
            metavar="NAME",
            envvar=ENVIRONMENT_VAR,
            help="Work on environment NAME of the spec (its own agent and state).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Ship new versions of HTTP services without dropping a single request."""
    select_environment(environment)


app.command(short_help="Validate the spec; exit 2 listing every problem.")(check.check)
app.command(short_help="Start the agent and the stable revision.")(up.up)
app.command(short_help="Roll out a new release; exit 1 if rolled back.")(deploy.deploy)
app.command(short_help="Go back to the previous stable revision.")(deploy.undo)
app.command(short_help="Move the rollout past its step or pause.")(control.promote)
app.command(short_help="Send all traffic back to the stable revision.")(control.abort)
app.command(short_help="Hold the rollout where it is.")(control.pause)
app.command(short_help="Continue a paused rollout.")(control.resume)
app.command(short_help="Start the last failed or aborted deploy again.")(control.retry)
app.command(short_help="Revisions, replicas, the rollout, live traffic.")(status.status)
app.command(short_help="Every revision and rollout.")(status.history)
app.command(short_help="The agent's events; --follow for new ones.")(events.events)
app.command(short_help="Replica output (stdout and stderr).")(logs.logs)
app.command(short_help="Drain and stop every replica and the agent.")(down.down)
app.command(short_help="Replace the agent; replicas keep running.")(reload.reload)
app.command(short_help="Deploy under load and report failed requests.")(verify.verify)
app.command(short_help="Hot-restart one process on shared sockets.")(run.run)
app.add_typer(flags.app, name="flags", short_help="Feature flags served by the agent.")
app.add_typer(release.app, name="release", short_help="Releases: built once, promoted.")
app.add_typer(alerts.app, name="alerts", short_help="Prometheus alert rules for the service.")
app.command(short_help="No promotion starts in the environment until T.")(freeze.freeze)
app.command(short_help="Lift the environment's freeze.")(freeze.unfreeze)
app.add_typer(migrate.app, name="migrate", short_help="Database migrations: expand, contract.")
app.add_typer(k8s.app, name="k8s", short_help="Kubernetes manifests: Deployment or Argo Rollout.")
app.command(short_help="A tour on the bundled example, under load.")(demo.demo)
app.command(short_help="Print systemd units: socket activation, restarts.")(systemd.systemd)
app.command(short_help="Connect stdin/stdout to the agent (what ssh runs).")(dial.dial)


def main() -> None:
    try:
        app()
    except Unreachable as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        sys.exit(UNREACHABLE)
    except Refused as exc:
        err.print(f"[red]error:[/red] {escape(exc.lines[0])}", soft_wrap=True)
        for line in exc.lines[1:]:
            err.print(f"  {line}", markup=False, soft_wrap=True)
        # 412: a safety rule refused a valid request (exit 1, as a failed gate)
        sys.exit(FAILED if exc.status == 412 else BAD_INPUT)
