"""`changeover down [--json]`: drain and stop everything; wait until the agent is gone (for a
remote environment, `down` runs on its host, over ssh, `--json` too).

Invariant: `down` is idempotent and says what it found. No agent: exit 0, "nothing to stop",
after removing what a dead agent left (its control socket, its pid file) while holding the
agent lock, so no agent starting meanwhile can lose its socket. Replicas a dead agent left
running: exit 1, never killed behind the store's back (`up` adopts or stops them). An agent
that holds the lock but does not answer: exit 3, nothing touched.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import psutil
import typer

from changeover.agent.lock import held_if_free, is_locked, read_pid
from changeover.agent.paths import StatePaths
from changeover.cli.client import AgentClient, Unreachable
from changeover.cli.common import (
    DEFAULT_SPEC,
    FAILED,
    UNREACHABLE,
    Json,
    SpecFile,
    StateDir,
    duration_option,
    fail,
    out,
    state_paths,
)
from changeover.cli.remote import run_on_host
from changeover.cli.ssh import RemotePaths
from changeover.store import Store, StoreError
from changeover.store.models import ReplicaRecord
from changeover.supervisor.orphans import still_running

ANSWER_TIMEOUT = 10.0  # seconds a running agent has to answer (or `--timeout`, if shorter)


@dataclass(frozen=True)
class Leftovers:
    """What a state directory with no agent holds of its last one."""

    removed: tuple[Path, ...] = ()  # its control socket and pid file, removed now
    pid: int | None = None  # the agent its stale pid file named
    running: tuple[ReplicaRecord, ...] = ()  # replicas it started that still run


def down(
    timeout: Annotated[
        float,
        duration_option("--timeout", help="How long to wait for the agent to stop.", default=300.0),
    ] = 300.0,
    file: SpecFile = DEFAULT_SPEC,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Stop accepting, finish in-flight requests, stop every replica, stop the agent."""
    paths = state_paths(state_dir, file)
    if isinstance(paths, RemotePaths):  # on its host, over ssh
        more = ["--json"] if json else []
        raise typer.Exit(run_on_host(paths.remote, "down", "--timeout", f"{timeout:g}", *more))
    left = leftovers(paths)
    if left is None:  # an agent holds the lock: ask it to stop
        try:
            with AgentClient(paths, timeout=min(ANSWER_TIMEOUT, timeout)) as client:
                before = client.get("/v1/status") if json else None  # what is about to stop
                pid = client.post("/v1/down")["pid"]
        except Unreachable as exc:
            left = leftovers(paths)  # it may have stopped meanwhile
            if left is None and (_lock_readable(paths) or _agent_alive(paths)):
                fail(UNREACHABLE, *unanswered(paths, exc, min(ANSWER_TIMEOUT, timeout)))
            left = left or Leftovers()  # another account's agent, gone: nothing to remove
        else:
            stop(paths, pid, before, timeout, json=json)
            return
    nothing_to_stop(paths, left, json=json)


def stop(
    paths: StatePaths, pid: int, before: dict[str, Any] | None, timeout: float, *, json: bool
) -> None:
    done = wait_stopped(paths, timeout, pid)
    if json:
        reason = None if done else f"the agent (pid {pid}) is still stopping after {timeout:g}s"
        out.print_json(data=stopped(paths, pid, before, stopped=done, reason=reason))
    if not done:
        fail(FAILED, f"the agent (pid {pid}) is still stopping after {timeout:g}s")
    if not json:
        out.print(f"stopped (agent pid {pid})")


def nothing_to_stop(paths: StatePaths, left: Leftovers, *, json: bool) -> None:
    """No agent: exit 0 saying so, or 1 if replicas of a dead agent still run."""
    lines = [f"no agent is running for {paths.root}: nothing to stop"]
    if left.removed:
        who = f"agent pid {left.pid}" if left.pid else "an agent"
        files = " and ".join(str(p) for p in left.removed)
        lines.append(f"removed {files}, left by {who}, which did not stop cleanly")
    if left.running:
        ids = ", ".join(f"{r.id} (pid {r.pid})" for r in left.running)
        lines[0] = (
            f"no agent is running for {paths.root}, but replicas its last agent started "
            f"are still running: {ids}"
        )
        lines.append(
            "run `changeover up` (it adopts the stable revision's replicas and stops the "
            "others), then `changeover down` to drain and stop them"
        )
    if json:
        doc = stopped(paths, None, None, stopped=False, reason="; ".join(lines))
        doc["removed"] = [str(p) for p in left.removed]
        doc["left_running"] = [
            {"id": r.id, "revision": r.revision, "pid": r.pid} for r in left.running
        ]
        out.print_json(data=doc)
    elif not left.running:
        for line in lines:
            out.print(line, markup=False, soft_wrap=True)
    if left.running:
        if json:
            raise typer.Exit(FAILED)
        fail(FAILED, *lines)


def leftovers(paths: StatePaths) -> Leftovers | None:
    """None while an agent holds the lock (or it cannot be read: the agent decides);
    else what its last agent left, its files removed with the lock held."""
    try:
        with held_if_free(paths.lock) as free:
            if not free:
                return None
            pid = read_pid(paths.pid_file)
            stale = ((paths.control_socket, stat.S_ISSOCK), (paths.pid_file, stat.S_ISREG))
            removed = tuple(p for p, kind in stale if _remove(p, kind))
            return Leftovers(removed, pid, _running_replicas(paths))
    except FileNotFoundError:
        return Leftovers()  # no lock file: no agent ever ran here
    except PermissionError:  # another account's agent ([control] group): ask its socket
        return None


def _remove(path: Path, kind: Callable[[int], bool]) -> bool:
    """Remove `path` if it is a file of `kind` (a stale socket, a stale pid file)."""
    try:
        if not kind(os.lstat(path).st_mode):
            return False
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _running_replicas(paths: StatePaths) -> tuple[ReplicaRecord, ...]:
    """The replicas the store records whose own process still runs (pid reuse excluded)."""
    if not paths.store.exists():
        return ()
    with contextlib.suppress(OSError, StoreError, sqlite3.Error):
        with Store.open(paths.store) as store:
            records = store.recorded_replicas()
        alive = set(still_running((r.id, r.pid, r.pgid, r.create_time) for r in records))
        return tuple(r for r in records if r.id in alive)
    return ()


def unanswered(paths: StatePaths, exc: Unreachable, waited: float) -> list[str]:
    """An agent holds the lock but did not answer: what, where, and what to do."""
    pid = read_pid(paths.pid_file)
    who = f"the agent (pid {pid})" if pid else "an agent (pid unknown: no pid file)"
    kill = f"kill {pid}" if pid else "kill PID"
    held = f"{who} holds the lock of {paths.root}"
    if not _lock_readable(paths):  # another account's agent: its lock is not ours to read
        held = f"{who} runs for {paths.root} (this account cannot read its lock)"
    return [
        f"{held} but did not answer on its control socket "
        f"{paths.control_socket} within {waited:g}s: nothing was stopped",
        f"cause: {exc}",
        "it may be starting, busy or hung: run `changeover down` again; if it still does "
        f"not answer, `{kill}` (SIGTERM: it drains and stops as `down` does), then "
        f"`kill -9` if it does not exit; the next `changeover up` adopts or stops its replicas",
    ]


def stopped(
    paths: StatePaths,
    pid: int | None,
    before: dict[str, Any] | None,
    *,
    stopped: bool,
    reason: str | None = None,
) -> dict[str, Any]:
    """`down --json`: the agent told to stop, the replicas it ran (each stopped with it)
    and the requests in flight when it was told, which it drained."""
    live = [r for r in (before or {}).get("replicas", []) if r["state"] != "exited"]
    inflight = None
    if before is not None:
        inflight = sum((r["metrics"] or {}).get("inflight", 0) for r in before["revisions"])
    return {
        "running": pid is not None,
        "stopped": stopped,
        "pid": pid,
        "state_dir": str(paths.root),
        "replicas": [{"id": r["id"], "revision": r["revision"], "pid": r["pid"]} for r in live],
        "inflight": inflight,
        "reason": reason,
        "removed": [],
        "left_running": [],
    }


def _lock_readable(paths: StatePaths) -> bool:
    try:
        is_locked(paths.lock)
    except PermissionError:
        return False
    return True


def _agent_alive(paths: StatePaths) -> bool:
    """Whether the pid file names a live changeover process (for an account that cannot
    read the lock: a pid file left by a killed agent names a dead or another process)."""
    pid = read_pid(paths.pid_file)
    try:
        return pid is not None and any("changeover" in a for a in psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def _locked(paths: StatePaths) -> bool:
    try:
        return is_locked(paths.lock)
    except PermissionError:  # another account's agent ([control] group): its pid decides
        return False


def wait_stopped(paths: StatePaths, timeout: float, pid: int | None = None) -> bool:
    """True once the agent released its lock and (given its pid) its process has exited."""
    deadline = time.monotonic() + timeout
    # the lock goes a moment before the process: interpreter teardown still runs after it
    while _locked(paths) or (pid is not None and _running(pid)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
