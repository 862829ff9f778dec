"""Starting one generation: the command on the shared listeners, fds 3, 4, ... in order.

Invariant: a generation gets stdin from /dev/null, our stdout and stderr, the listeners
as fds 3.. (LISTEN_PID set by an `sh` trampoline to the app's own pid, since posix_spawn
cannot know it in advance), leads its own process group, and inherits no other fd.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from changeover.supervisor.process import ChildProcess
from changeover.supervisor.spawn import Child, SpawnError, resolve_command, spawn_group_leader

FIRST_FD = 3
_SHELL = "/bin/sh"
# $1 is the workdir, the rest is the command; `exec` keeps the shell's pid for the app.
_TRAMPOLINE = 'cd -- "$1" || exit 126; shift; LISTEN_PID=$$; export LISTEN_PID; exec "$@"'

__all__ = ["Launch", "Launcher", "PosixLauncher", "SpawnError", "listen_env"]


@dataclass(frozen=True)
class Launch:
    argv: Sequence[str]
    workdir: Path
    env: Mapping[str, str]  # complete; LISTEN_PID is added by the trampoline
    fds: Sequence[int]  # listeners, becoming fds 3, 4, ...


class Launcher(Protocol):
    def spawn(self, launch: Launch) -> Child: ...


def listen_env(base: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """`base` without our own activation and notify variables, plus the generation's."""
    env = {k: v for k, v in base.items() if k not in _OURS}
    env["LISTEN_FDS"] = str(len(names))
    env["LISTEN_FDNAMES"] = ":".join(names)
    return env


_OURS = frozenset({"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET"})


class PosixLauncher:
    def spawn(self, launch: Launch) -> ChildProcess:
        if not launch.argv:
            raise SpawnError("empty command")
        program = resolve_command(launch.argv[0], launch.workdir, launch.env)
        argv = [_SHELL, "-c", _TRAMPOLINE, "changeover-run", str(launch.workdir), program]
        argv += launch.argv[1:]
        # Sources above every target so that no dup2 overwrites a source not yet copied.
        floor = FIRST_FD + len(launch.fds) + 7
        sources = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in launch.fds]
        try:
            pid = spawn_group_leader(argv, launch.env, _file_actions(sources))
        finally:
            for fd in sources:
                os.close(fd)
        return ChildProcess(pid)


def _file_actions(sources: Sequence[int]) -> list[tuple[Any, ...]]:
    actions: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()]
    actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
    actions += [(os.POSIX_SPAWN_DUP2, fd, FIRST_FD + i) for i, fd in enumerate(sources)]
    return actions


def _inheritable_fds() -> list[int]:
    """Fds >= 3 we inherited without close-on-exec: the generation must not get them."""
    found = []
    for name in os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"):
        # OSError: the fd of the directory listing itself, already closed.
        with contextlib.suppress(OSError):
            if int(name) >= FIRST_FD and os.get_inheritable(int(name)):
                found.append(int(name))
    return found
