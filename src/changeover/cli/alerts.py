"""`changeover alerts rules`: the Prometheus rule file for the service (and `-E` env).

Invariant: the file is rendered purely from the spec and the options (`ops.rules`), so it
changes only when they do; nothing is asked of an agent. It goes to stdout, or with
`-o FILE` to that file (written whole, then renamed over it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from changeover.agent.ops.rules import Target, render, rules
from changeover.cli.common import (
    DEFAULT_SPEC,
    SpecFile,
    duration_option,
    environment,
    err,
    load,
)

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Prometheus alerting for the service: the rules that watch it.",
)
WINDOW, HOLD = 300.0, 120.0


@app.command("rules")
def rules_command(
    file: SpecFile = DEFAULT_SPEC,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="FILE", help="Write the rules here, not stdout."),
    ] = None,
    window: Annotated[
        float,
        duration_option(
            "--window", help="Range of the rates (at least four scrape intervals).", default=WINDOW
        ),
    ] = WINDOW,
    hold: Annotated[
        float,
        duration_option(
            "--for", help="How long a condition must hold before its alert fires.", default=HOLD
        ),
    ] = HOLD,
) -> None:
    """Write the Prometheus rule file for the service: error ratio, latency, crash loops,
    failed rollouts, an agent gone quiet; runbooks in the annotations."""
    if window <= 0:
        raise typer.BadParameter("expected a duration > 0", param_hint="--window")
    spec, _ = load(file)
    target = Target(spec.app.name, environment(), window, hold)
    text = render(target)
    if output is None:
        sys.stdout.write(text)
        return
    partial = output.with_name(output.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, output)
    err.print(f"wrote {output} ({len(rules(target))} alerts)", markup=False)
