"""`changeover up [--detach] [--json]`: start the agent and revision 1; return when it is ready.

Invariant: sockets a service manager passed to `up` (socket activation) reach the agent:
in the foreground it is this process; detached, they are passed on as fds 3.. with
`LISTEN_PID` of the agent itself. `--detach` returns 0 only once the agent it started
has itself brought the stable revision to ready. For an environment on another host,
`up --detach` runs there over ssh, and `up` in the foreground is refused (exit 2).
`--json` prints one document, once the outcome is known (`started`), instead of the
events as they happen.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from changeover.agent.lock import is_locked, read_pid
from changeover.agent.main import AgentOptions, run_agent
from changeover.agent.output import OUTPUT_HEADING
from changeover.agent.paths import StatePaths
from changeover.agent.status import rollout_doc
from changeover.cli.client import AgentClient, Unreachable
from changeover.cli.common import (
    BAD_INPUT,
    DEFAULT_SPEC,
    FAILED,
    Json,
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
from changeover.store import Store, StoreError

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
    json: Json = False,
) -> None:
    """Start the agent: proxy, replicas of the stable revision (or revision 1), control API."""
    spec, path = load(file)
    paths = state_paths(state_dir, path)
    if isinstance(paths, RemotePaths):
        raise typer.Exit(up_remote(paths.remote, detach, version, json))
    if is_locked(paths.lock):
        pid = read_pid(paths.pid_file)
        fail(
            BAD_INPUT,
            f"an agent is already running for {paths.root}" + (f" (pid {pid})" if pid else ""),
            "stop it with `changeover down` first",
        )
    if detach:
        raise typer.Exit(start_detached(path, paths, version, json=json))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if not json:
        options = AgentOptions(
            spec=spec, spec_path=path, paths=paths, version=version, on_ready=announce
        )
        raise typer.Exit(run_agent(options))
    ready = ForegroundJson(paths)
    options = AgentOptions(
        spec=spec, spec_path=path, paths=paths, version=version, on_ready=ready.on_ready
    )
    code = run_agent(options)
    ready.finished(code)
    raise typer.Exit(code)


class ForegroundJson:
    """`up --json` in the foreground: the document once the stable revision is ready
    (asked of the agent's own control API from a thread: the agent is this process, so
    its loop must go on to answer), or at the end, a start that failed."""

    def __init__(self, paths: StatePaths) -> None:
        self.paths = paths
        self.asking: threading.Thread | None = None

    def on_ready(self, url: str, revision: int, version: str) -> None:
        self.asking = threading.Thread(target=self._print, daemon=True)
        self.asking.start()

    def _print(self) -> None:
        try:
            with AgentClient(self.paths) as client:
                doc = client.get("/v1/status")
        except Unreachable as exc:  # stopped at once: `finished` says how it ended
            err.print(f"error: {exc}", markup=False)
            return
        out.print_json(data=started(doc, os.getpid(), log=None, detached=False))

    def finished(self, code: int) -> None:
        if self.asking is not None:
            self.asking.join()
        elif code:
            out.print_json(data=not_started(self.paths, os.getpid(), code, None, None))


def started(
    status: dict[str, Any], pid: int, *, log: Path | None, detached: bool
) -> dict[str, Any]:
    """`up --json` for an agent that serves: where, what, and its stable revision's
    replicas, from its status document."""
    agent, stable = status["agent"], status["stable_revision"]
    revision = next(r for r in status["revisions"] if r["revision"] == stable)
    return {
        "ok": True,
        "pid": pid,
        "detached": detached,
        "state_dir": agent["state_dir"],
        "environment": agent["environment"],
        "engine": agent["engine"],
        "listen": agent["listen"],
        "url": f"http://{agent['listen']}",
        "stable_revision": stable,
        "version": revision["version"],
        "replicas": [r for r in status["replicas"] if r["revision"] == stable],
        "rollout": status["rollout"],
        "log": None if log is None else str(log),
        "exit_code": None,
        "error": None,
    }


def not_started(
    paths: StatePaths, pid: int, code: int, rollout: dict[str, Any] | None, log: Path | None
) -> dict[str, Any]:
    """`up --json` for an agent that exited before its stable revision was ready."""
    why = f": {rollout['reason']}" if rollout and rollout.get("reason") else ""
    return {
        "ok": False,
        "pid": pid,
        "detached": log is not None,
        "state_dir": str(paths.root),
        "environment": None,
        "engine": None,
        "listen": None,
        "url": None,
        "stable_revision": None,
        "version": None,
        "replicas": [],
        "rollout": rollout,
        "log": None if log is None else str(log),
        "exit_code": code,
        "error": f"the agent (pid {pid}) exited with code {code} before the stable revision "
        f"was ready{why}",
    }


def up_remote(remote: Remote, detach: bool, version: str, json: bool = False) -> int:
    """`up --detach` on the host, over ssh: the agent must outlive the ssh session."""
    if not detach:
        fail(
            BAD_INPUT,
            f"{remote}: an agent started over ssh must outlive the session",
            f"use `changeover -E {remote.environment} up --detach`, or run it under systemd "
            "on that host (`changeover systemd` there prints the units)",
        )
    more = ["--json"] if json else []
    return run_on_host(remote, "up", "--detach", "--version", version, *more)


def announce(url: str, revision: int, version: str) -> None:
    out.print(f"[green]ready[/green]: revision {revision} ({escape(version)}) serving on {url}")


def start_detached(spec: Path, paths: StatePaths, version: str, *, json: bool = False) -> int:
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
    return wait_ready(pid, paths, log, offset, since, json=json)


def _pass_on(
    passed: list[ListenFd], argv: list[str], env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The agent's command and environment to receive `passed` as fds 3.. (moved there
    from above 3.., so that no dup2 overwrites another source or is a no-op on one)."""
    names = ":".join(f.name for f in passed)
    trampoline = [_SHELL, "-c", _LISTEN_PID_EXEC, "changeover-agent", *argv]
    return trampoline, env | {"LISTEN_FDS": str(len(passed)), "LISTEN_FDNAMES": names}


def wait_ready(
    pid: int, paths: StatePaths, log: Path, offset: int, since: float, *, json: bool = False
) -> int:
    """Follow the new agent until revision 1 is ready (0) or the agent exits (its code);
    only what happened `since` it was started counts (its store holds earlier lives).
    With `json`, no event is printed: one document at the end."""
    seen = 0
    rollout: dict[str, Any] | None = None  # the last one seen of this agent's life
    with AgentClient(paths) as client:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                show_log_tail(log, offset)
                code = os.waitstatus_to_exitcode(status) or FAILED
                if json:
                    # the store, not the last status polled: the agent may have failed
                    # its rollout and exited between two polls
                    last = _last_rollout(paths, since) or rollout
                    out.print_json(data=not_started(paths, pid, code, last, log))
                return code
            try:
                doc = client.get("/v1/status")
            except Unreachable:
                time.sleep(POLL)
                continue
            for event in doc["events"]:
                if event["id"] > seen:
                    seen = event["id"]
                    if event["ts"] >= since and not json:
                        print_event(event)
            current = doc["rollout"]
            if current and current["started_at"] >= since:
                rollout = current
            if _served(current, since) and doc["stable_revision"]:
                if json:
                    out.print_json(data=started(doc, pid, log=log, detached=True))
                    return 0
                rev = next(r for r in doc["revisions"] if r["revision"] == doc["stable_revision"])
                scheme = "https" if doc["agent"].get("tls") else "http"
                announce(f"{scheme}://{doc['agent']['listen']}", rev["revision"], rev["version"])
                out.print(f"agent pid {pid}; logs in {log}")
                return 0
            time.sleep(POLL)


def _last_rollout(paths: StatePaths, since: float) -> dict[str, Any] | None:
    """The exited agent's own last rollout, from its store (None if it made none)."""
    try:
        with Store.open(paths.store) as store:
            newest = next(iter(store.rollouts(limit=1)), None)
    except (OSError, StoreError, sqlite3.Error):
        return None
    return rollout_doc(newest) if newest is not None and newest.started_at >= since else None


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
