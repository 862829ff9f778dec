"""`changeover logs [REPLICA] [--follow] [--since D] [-t] [--agent | --access]`: output the
agent captured: a replica's stdout and stderr, the agent's own log, or the access log."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from changeover.cli.client import AgentClient
from changeover.cli.common import DEFAULT_SPEC, SpecFile, StateDir, duration_option, state_paths


def logs(
    replica: Annotated[
        str | None,
        typer.Argument(metavar="REPLICA", help="Replica id such as r2-1; default: all running."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Keep printing new lines.")
    ] = False,
    lines: Annotated[
        int, typer.Option("--lines", "-n", metavar="N", help="Lines of history to show.")
    ] = 100,
    agent: Annotated[
        bool, typer.Option("--agent", help="The agent's own log (an agent started with -d).")
    ] = False,
    access: Annotated[
        bool,
        typer.Option(
            "--access",
            help="The proxy's access log: one JSON line per request ([proxy] access_log).",
        ),
    ] = False,
    migrations: Annotated[
        bool,
        typer.Option(
            "--migrations", help="The output of the [migrations] commands (secrets redacted)."
        ),
    ] = False,
    since: Annotated[
        float | None,
        duration_option("--since", help="Only lines the agent saw written this long ago or later."),
    ] = None,
    timestamps: Annotated[
        bool,
        typer.Option(
            "--timestamps", "-t", help="Prefix each line with when the agent saw it (UTC)."
        ),
    ] = False,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
) -> None:
    """Print the stdout/stderr of one replica, or of every running replica (prefixed), or
    the agent's own log, or the access log. Following one replica ends when it has
    stopped; following them all takes in replicas started meanwhile, and following the
    agent's or the access log goes on while the agent runs, until Ctrl-C."""
    if sum((agent, access, bool(replica))) > 1:
        raise typer.BadParameter("choose one of REPLICA, --agent and --access")
    if migrations and (agent or access or replica):
        raise typer.BadParameter("--migrations shows the migrations log alone")
    params: dict[str, str | int] = {"lines": lines, "follow": int(follow)}
    if replica:
        params["replica"] = replica
    if agent:
        params["agent"] = 1
    if access:
        params["access"] = 1
    if migrations:
        params["migrations"] = 1
    if since is not None:
        params["since"] = f"{since:g}"
    if timestamps:
        params["timestamps"] = 1
    with AgentClient(state_paths(state_dir, file)) as client:
        try:
            for chunk in client.stream("/v1/logs", **params):
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
        except KeyboardInterrupt:
            pass
