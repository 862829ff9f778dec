"""Starting replica processes with `os.posix_spawn`.

Invariant: a child gets exactly fds 0-3 from the agent (stdin from /dev/null, stdout and
stderr appended to its log, and the listening socket as fd 3 when asked; HAProxy alone
also gets `more_fds` as fds 4, 5, ...), leads its own
process group, and runs in its workdir. Anything that would make exec fail is reported
before spawning as a `SpawnError` with a message meant for the user.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from signal import SIGKILL
from typing import Any, Protocol

import psutil

from changeover.supervisor.process import ChildProcess

LISTEN_FD = 3
_HIGH_FD = 10  # sources are moved above 0-3 so no dup2 overwrites another source
_SHELL = "/bin/sh"
# $1 is the workdir, the rest is the command; `exec` keeps the shell's pid for the app.
_CD_EXEC = 'cd -- "$1" || exit 126; shift; exec "$@"'
_CD_EXEC_LISTEN = 'cd -- "$1" || exit 126; shift; LISTEN_PID=$$; export LISTEN_PID; exec "$@"'


class SpawnError(Exception):
    """The command cannot be started (not found, not executable, no workdir)."""


@dataclass(frozen=True)
class SpawnSpec:
    argv: Sequence[str]
    workdir: Path
    env: Mapping[str, str]
    log_path: Path
    listen_fd: int | None = None  # passed as fd 3, with LISTEN_PID set to the app's pid
    more_fds: tuple[int, ...] = ()  # passed as fds 4, 5, ... (needs listen_fd)


class Child(Protocol):
    @property
    def pid(self) -> int: ...
    @property
    def create_time(self) -> float | None: ...
    @property
    def returncode(self) -> int | None: ...
    async def wait(self) -> int: ...
    def signal(self, sig: int) -> None: ...
    def kill_group(self, sig: int = SIGKILL) -> None: ...


class Spawner(Protocol):
    def spawn(self, spec: SpawnSpec) -> Child: ...


def resolve_command(name: str, workdir: Path, env: Mapping[str, str]) -> str:
    """The executable `name` runs, found the way the shell would from `workdir`."""
    if not workdir.is_dir():
        raise SpawnError(f"workdir does not exist: {workdir}")
    if "/" in name:
        candidates = [workdir / name]
    else:
        search = env.get("PATH", os.defpath)
        candidates = [workdir / (entry or ".") / name for entry in search.split(os.pathsep)]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    if "/" in name:
        problem = "is not executable" if candidates[0].exists() else "not found"
        raise SpawnError(f'command {problem}: "{name}" (in workdir {workdir})')
    raise SpawnError(f'command not found: "{name}" (searched PATH={search})')


class PosixSpawner:
    def spawn(self, spec: SpawnSpec) -> ChildProcess:
        if not spec.argv:
            raise SpawnError("empty command")
        program = resolve_command(spec.argv[0], spec.workdir, spec.env)
        script = _CD_EXEC if spec.listen_fd is None else _CD_EXEC_LISTEN
        argv = [_SHELL, "-c", script, "changeover-replica", str(spec.workdir), program]
        argv += spec.argv[1:]
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        sources = [os.open(spec.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)]
        try:
            if spec.listen_fd is not None:
                for fd in (spec.listen_fd, *spec.more_fds):
                    sources.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _HIGH_FD))
            sources[0] = _move_high(sources[0])
            pid = spawn_group_leader(argv, spec.env, _file_actions(sources))
        finally:
            for fd in sources:
                os.close(fd)
        return ChildProcess(pid, _create_time(pid))


def spawn_group_leader(
    argv: Sequence[str], env: Mapping[str, str], file_actions: Sequence[tuple[Any, ...]]
) -> int:
    """posix_spawn `argv` (a `sh -c` trampoline) as the leader of a new process group."""
    return os.posix_spawn(
        _SHELL,
        list(argv),
        dict(env),
        file_actions=list(file_actions),
        setpgroup=0,
        setsigmask=(),
        # Python ignores SIGPIPE and SIGXFSZ; the app must get the defaults.
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
    )


def _move_high(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _HIGH_FD)
    os.close(fd)
    return high


def _file_actions(sources: list[int]) -> list[tuple[Any, ...]]:
    actions: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()]
    actions += [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, sources[0], 1),
        (os.POSIX_SPAWN_DUP2, sources[0], 2),
    ]
    for index, source in enumerate(sources[1:]):
        actions.append((os.POSIX_SPAWN_DUP2, source, LISTEN_FD + index))
    return actions


def _inheritable_fds() -> list[int]:
    """Fds >= 3 the agent itself inherited without close-on-exec; the app must not get them."""
    found = []
    for name in os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"):
        fd = int(name)
        # OSError: the fd of the directory listing itself, already closed.
        with contextlib.suppress(OSError):
            if fd >= LISTEN_FD and os.get_inheritable(fd):
                found.append(fd)
    return found


def _create_time(pid: int) -> float | None:
    try:
        created: float = psutil.Process(pid).create_time()
    except psutil.Error:
        return None
    return created
