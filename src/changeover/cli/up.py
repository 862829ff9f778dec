"""`changeover up [--detach]`: start the agent and revision 1; return when it is ready."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from changeover.agent.lock import is_locked, read_pid
from changeover.agent.main import AgentOptions, run_agent
from changeover.agent.paths import StatePaths
from changeover.cli.client import AgentClient, Unreachable
from changeover.cli.common import (
    BAD_INPUT,
    DEFAULT_SPEC,
    FAILED,
    SpecFile,
    StateDir,
    err,
    fail,
    load,
    out,
    state_paths,
)
from changeover.cli.follow import print_event

POLL = 0.1


def up(
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Run the agent in the background.")
    ] = False,
    version: Annotated[str, typer.Option("--version", help="Version label of revision 1.")] = "v1",
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
) -> None:
    """Start the agent: proxy, replicas of the stable revision (or revision 1), control API."""
    spec, path = load(file)
    paths = state_paths(state_dir, path)
    if is_locked(paths.lock):
        pid = read_pid(paths.pid_file)
        fail(
            BAD_INPUT,
            f"an agent is already running for {paths.root}" + (f" (pid {pid})" if pid else ""),
            "stop it with `changeover down` first",
        )
    if detach:
        raise typer.Exit(start_detached(path, paths, version))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    options = AgentOptions(
        spec=spec, spec_path=path, paths=paths, version=version, on_ready=announce
    )
    raise typer.Exit(run_agent(options))


def announce(url: str, revision: int, version: str) -> None:
    out.print(f"[green]ready[/green]: revision {revision} ({escape(version)}) serving on {url}")


def start_detached(spec: Path, paths: StatePaths, version: str) -> int:
    paths.ensure()
    log = paths.agent_log
    offset = log.stat().st_size if log.exists() else 0
    argv = [
        sys.executable,
        "-m",
        "changeover.agent",
        "--spec",
        str(spec),
        "--state-dir",
        str(paths.root),
        "--version",
        version,
    ]
    out_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        pid = os.posix_spawn(
            sys.executable,
            argv,
            os.environ,
            setsid=True,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out_fd, 1),
                (os.POSIX_SPAWN_DUP2, out_fd, 2),
            ],
        )
    finally:
        os.close(out_fd)
    return wait_ready(pid, paths, log, offset)


def wait_ready(pid: int, paths: StatePaths, log: Path, offset: int) -> int:
    """Follow the new agent until revision 1 is ready (0) or the agent exits (its code)."""
    seen = 0
    with AgentClient(paths) as client:
        while True:
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                show_log_tail(log, offset)
                return os.waitstatus_to_exitcode(code) or FAILED
            try:
                doc = client.get("/v1/status")
            except Unreachable:
                time.sleep(POLL)
                continue
            for event in doc["events"]:
                if event["id"] > seen:
                    seen = event["id"]
                    print_event(event)
            rollout = doc["rollout"]
            if rollout and rollout["phase"] == "succeeded" and doc["stable_revision"]:
                rev = next(r for r in doc["revisions"] if r["revision"] == doc["stable_revision"])
                announce(f"http://{doc['agent']['listen']}", rev["revision"], rev["version"])
                out.print(f"agent pid {pid}; logs in {log}")
                return 0
            time.sleep(POLL)


def show_log_tail(log: Path, offset: int, lines: int = 20) -> None:
    try:
        with log.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    except OSError:
        return
    for line in text.splitlines()[-lines:]:
        err.print(line, markup=False, soft_wrap=True)
