"""What the hot-restart core decides: the effects the runner carries out, in order.

Invariant: every effect on a process names its generation, and the core emits `Signal`
or `KillGroup` only for a generation it has not yet seen exit, so a reaped pid (maybe
reused by now) is never signalled.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spawn:
    """Start generation `gen` on the shared sockets and watch its readiness.

    `like`: a restart of generation `like`'s command, in the folder it started in (the
    `--workdir` symlink as it pointed then), not wherever the symlink points now.
    """

    gen: int
    like: int | None = None


@dataclass(frozen=True)
class Signal:
    """Send `signal` to generation `gen`'s main process."""

    gen: int
    signal: int


@dataclass(frozen=True)
class KillGroup:
    """SIGKILL generation `gen`'s whole process group (workers and grandchildren too)."""

    gen: int


@dataclass(frozen=True)
class Notify:
    """Tell the service manager (systemd's NOTIFY_SOCKET), e.g. ("READY=1", "STATUS=...")."""

    fields: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """The answer to reload number `number`: upgraded, or not (and the old one serves)."""

    number: int
    upgraded: bool
    message: str


@dataclass(frozen=True)
class Log:
    """A line for the operator; `error` marks failures."""

    message: str
    error: bool = False


Action = Spawn | Signal | KillGroup | Notify | Outcome | Log
