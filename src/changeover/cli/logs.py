"""`changeover logs [REPLICA] [--follow] [--since D] [-t] [--agent | --access] [--json]`:
output the agent captured: a replica's stdout and stderr, the agent's own log, or the
access log.

Invariant: `--json` is the same lines as the text, each one JSON object (`LogLines`):
the agent sends the same bytes either way (secrets redacted where the agent redacts
them), and the CLI only splits off the prefixes the agent put in front of each line.
"""

from __future__ import annotations

import calendar
import json as jsonlib
import sys
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from changeover.cli.client import AgentClient
from changeover.cli.common import (
    DEFAULT_SPEC,
    Json,
    SpecFile,
    StateDir,
    duration_option,
    out,
    state_paths,
)

PREFIX = b" | "  # between the replica id and its line, when every replica is shown
STAMP = len("2026-01-05T10:00:00Z")  # the agent's `--timestamps` prefix, then a space


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
    json: Json = False,
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
    replica_logs = not (agent or access or migrations)
    if timestamps or (json and replica_logs):  # --json: each replica line's time
        params["timestamps"] = 1
    stream = "agent" if agent else "access" if access else "migrations" if migrations else "output"
    reader = LogLines(
        replica=replica,
        stream=stream,
        prefixed=replica_logs and not replica,
        stamped=json and replica_logs,
    )
    with AgentClient(state_paths(state_dir, file)) as client:
        try:
            for chunk in client.stream("/v1/logs", **params):
                if json:
                    _write(reader.feed(chunk))
                else:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.buffer.flush()
        except KeyboardInterrupt:
            pass
        if json:
            _write(reader.end())


def _write(found: list[dict[str, Any]]) -> None:
    for line in found:  # one JSON object per line, so a pipe can read them as they come
        out.file.write(jsonlib.dumps(line) + "\n")
    out.file.flush()


@dataclass
class LogLines:
    """The agent's log stream as `logs --json` objects: `{"replica", "stream", "time",
    "text"}`. `prefixed`: each line starts with `ID | ` (every replica shown);
    `stamped`: then with the agent's UTC stamp (`format_stamp`) and a space."""

    replica: str | None
    stream: str
    prefixed: bool
    stamped: bool
    _held: bytes = field(default=b"", repr=False)

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        *complete, self._held = (self._held + chunk).split(b"\n")
        return [self.parse(line) for line in complete]

    def end(self) -> list[dict[str, Any]]:
        """The last line, if the stream ended without its newline."""
        held, self._held = self._held, b""
        return [self.parse(held)] if held else []

    def parse(self, line: bytes) -> dict[str, Any]:
        replica = self.replica
        if self.prefixed:
            name, sep, rest = line.partition(PREFIX)
            if sep:
                replica, line = name.decode(errors="replace"), rest
        when = None
        if self.stamped and line[STAMP : STAMP + 1] == b" ":
            when, line = stamp_time(line[:STAMP].decode(errors="replace")), line[STAMP + 1 :]
        return {
            "replica": replica,
            "stream": self.stream,
            "time": when,
            "text": line.decode(errors="replace"),
        }


def stamp_time(stamp: str) -> float | None:
    """The Unix time of the agent's line stamp (`2026-01-05T10:00:00Z`); None for its dash
    (the agent did not see the line being written)."""
    try:
        return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None
