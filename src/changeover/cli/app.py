"""The `changeover` command: one typer app, one module per command group.

Invariant: agent errors become the contract's exit codes here, in one place:
unreachable agent -> 3, refused request -> 2.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from changeover.cli import (
    check,
    control,
    demo,
    deploy,
    down,
    flags,
    logs,
    reload,
    run,
    status,
    systemd,
    up,
    verify,
)
from changeover.cli.client import Refused, Unreachable
from changeover.cli.common import BAD_INPUT, UNREACHABLE, err

app = typer.Typer(
    name="changeover",
    no_args_is_help=True,
    add_completion=False,
    help="Ship new versions of HTTP services without dropping a single request.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command()(check.check)
app.command()(up.up)
app.command()(deploy.deploy)
app.command()(deploy.undo)
app.command()(control.promote)
app.command()(control.abort)
app.command()(control.pause)
app.command()(control.resume)
app.command()(control.retry)
app.command()(status.status)
app.command()(status.history)
app.command()(logs.logs)
app.command()(down.down)
app.command()(reload.reload)
app.command()(verify.verify)
app.command()(run.run)
app.command()(systemd.systemd)
app.add_typer(flags.app, name="flags")
app.command()(demo.demo)


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
        sys.exit(BAD_INPUT)
