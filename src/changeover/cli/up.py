"""`changeover up [--detach]`: start the agent and revision 1; return when it is ready.

Invariant: sockets a service manager passed to `up` (socket activation) reach the agent:
in the foreground it is this process; detached, they are passed on as fds 3.. with
`LISTEN_PID` of the agent itself. `--detach` returns 0 only once the agent it started
has itself brought the stable revision to ready. For an environment on another host,
`up --detach` runs there over ssh, and `up` in the foreground is refused (exit 2).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from changeover.agent.lock import is_locked, read_pid
from changeover.agent.main import AgentOptions, run_agent
from changeover.agent.output import OUTPUT_HEADING
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
from changeover.cli.remote import run_on_host
from changeover.cli.ssh import Remote, RemotePaths
from changeover.runtime.activation import (
    LISTEN_FDS_START,
    ActivationError,
    ListenFd,
    listen_fds,
)

POLL = 0.1
_SHELL = "/bin/sh"
_HIGH_FD = 10
# LISTEN_PID must name the agent: the shell learns its own pid, then execs into the agent
_LISTEN_PID_EXEC = 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"'


def up(
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Run the agent in the background.")
    ] = False,
    version: Annotated[
        str, typer.Option("--version", metavar="VERSION", help="Version label of revision 1.")
    ] = "v1",
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
) -> None:
    """Start the agent: proxy, replicas of the stable revision (or revision 1), control API."""
    spec, path = load(file)
    paths = state_paths(state_dir, path)
    if isinstance(paths, RemotePaths):
        raise typer.Exit(up_remote(paths.remote, detach, version))
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


def up_remote(remote: Remote, detach: bool, version: str) -> int:
    """`up --detach` on the host, over ssh: the agent must outlive the ssh session."""
    if not detach:
        fail(
            BAD_INPUT,
            f"{remote}: an agent started over ssh must outlive the session",
            f"use `changeover -E {remote.environment} up --detach`, or run it under systemd "
            "on that host (`changeover systemd` there prints the units)",
        )
    return run_on_host(remote, "up", "--detach", "--version", version)


def announce(url: str, revision: int, version: str) -> None:
    out.print(f"[green]ready[/green]: revision {revision} ({escape(version)}) serving on {url}")


def start_detached(spec: Path, paths: StatePaths, version: str) -> int:
    paths.ensure()
    log = paths.agent_log
    offset = log.stat().st_size if log.exists() else 0
    argv = [sys.executable, "-m", "changeover.agent", "--spec", str(spec)]
    argv += ["--state-dir", str(paths.root), "--version", version]
    env = dict(os.environ)
    try:
        passed = listen_fds(environ=env)  # sockets a service manager gave `up` itself
    except ActivationError as exc:
        fail(BAD_INPUT, f"socket activation: {exc}")
    out_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    actions: list[tuple[Any, ...]] = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, out_fd, 1),
        (os.POSIX_SPAWN_DUP2, out_fd, 2),
    ]
    high = [fcntl.fcntl(f.fd, fcntl.F_DUPFD_CLOEXEC, _HIGH_FD) for f in passed]
    if passed:
        argv, env = _pass_on(passed, argv, env)
        actions += [(os.POSIX_SPAWN_DUP2, fd, LISTEN_FDS_START + i) for i, fd in enumerate(high)]
    since = time.time()
    try:
        pid = os.posix_spawn(argv[0], argv, env, setsid=True, file_actions=actions)
    finally:
        for fd in (out_fd, *high):
            os.close(fd)
    return wait_ready(pid, paths, log, offset, since)


def _pass_on(
    passed: list[ListenFd], argv: list[str], env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The agent's command and environment to receive `passed` as fds 3.. (moved there
    from above 3.., so that no dup2 overwrites another source or is a no-op on one)."""
    names = ":".join(f.name for f in passed)
    trampoline = [_SHELL, "-c", _LISTEN_PID_EXEC, "changeover-agent", *argv]
    return trampoline, env | {"LISTEN_FDS": str(len(passed)), "LISTEN_FDNAMES": names}


def wait_ready(pid: int, paths: StatePaths, log: Path, offset: int, since: float) -> int:
    """Follow the new agent until revision 1 is ready (0) or the agent exits (its code);
    only what happened `since` it was started counts (its store holds earlier lives)."""
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
                    if event["ts"] >= since:
                        print_event(event)
            rollout = doc["rollout"]
            if _served(rollout, since) and doc["stable_revision"]:
                rev = next(r for r in doc["revisions"] if r["revision"] == doc["stable_revision"])
                scheme = "https" if doc["agent"].get("tls") else "http"
                announce(f"{scheme}://{doc['agent']['listen']}", rev["revision"], rev["version"])
                out.print(f"agent pid {pid}; logs in {log}")
                return 0
            time.sleep(POLL)


def _served(rollout: dict[str, Any] | None, since: float) -> bool:
    """The new agent's own first rollout succeeded (not one of an earlier life's)."""
    return bool(rollout and rollout["phase"] == "succeeded" and rollout["started_at"] >= since)


def show_log_tail(log: Path, offset: int, lines: int = 20) -> None:
    """The agent's last `lines` log lines since `offset`, from further back if that is
    where a replica's output before failing at boot begins (`agent.output`)."""
    try:
        with log.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    except OSError:
        return
    logged = text.splitlines()
    start = max(0, len(logged) - lines)
    heads = [i for i, line in enumerate(logged) if OUTPUT_HEADING in line]
    if heads:
        start = min(start, heads[-1])
    for line in logged[start:]:
        err.print(line, markup=False, soft_wrap=True)
