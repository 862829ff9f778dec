"""Socket activation (the systemd `LISTEN_FDS` protocol) in pure Python.

Invariant: fds are only claimed when `LISTEN_PID` names this very process (or is absent,
as older managers do), each claimed fd is close-on-exec so it never leaks into children,
and a malformed environment raises ActivationError naming the variable and the rule.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START: inherited fds begin right after stdio
_VARS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
UNKNOWN_NAME = "unknown"  # what sd_listen_fds_with_names reports for unnamed fds


class ActivationError(ValueError):
    """The socket-activation variables are present but malformed."""


@dataclass(frozen=True)
class ListenFd:
    fd: int
    name: str

    def socket(self) -> socket.socket:
        """A socket object owning this fd (family and type read from the kernel)."""
        return socket.socket(fileno=self.fd)


def parse_listen_env(environ: Mapping[str, str], pid: int) -> list[ListenFd]:
    """The fds the environment hands to process `pid` (pure: no fd is touched)."""
    if "LISTEN_FDS" not in environ:
        return []
    listen_pid = environ.get("LISTEN_PID")
    if listen_pid is not None:
        if not listen_pid.strip().isdigit():
            raise ActivationError(f"LISTEN_PID: expected a process id, got {listen_pid!r}")
        if int(listen_pid) != pid:
            return []  # meant for another process (e.g. our parent): not ours to take
    raw = environ["LISTEN_FDS"].strip()
    if not raw.isdigit():
        raise ActivationError(f"LISTEN_FDS: expected a count >= 0, got {environ['LISTEN_FDS']!r}")
    count = int(raw)
    names = _names(environ.get("LISTEN_FDNAMES"), count)
    return [ListenFd(LISTEN_FDS_START + i, names[i]) for i in range(count)]


def _names(raw: str | None, count: int) -> list[str]:
    if raw is None:
        return [UNKNOWN_NAME] * count
    names = raw.split(":")
    if len(names) != count:
        raise ActivationError(
            f"LISTEN_FDNAMES: expected {count} colon-separated name(s) to match LISTEN_FDS,"
            f" got {len(names)} in {raw!r}"
        )
    return [name or UNKNOWN_NAME for name in names]


def listen_fds(
    *, unset_environment: bool = True, environ: MutableMapping[str, str] | None = None
) -> list[ListenFd]:
    """Claim the listening fds passed to this process, in order, each close-on-exec.

    With `unset_environment` (the default, as `sd_listen_fds(1)`), the variables are
    removed so a child process never mistakes them for its own.
    """
    env = os.environ if environ is None else environ
    fds = parse_listen_env(env, os.getpid())
    for item in fds:
        try:
            os.set_inheritable(item.fd, False)
        except OSError as exc:
            raise ActivationError(
                f"LISTEN_FDS: fd {item.fd} ({item.name}) is not open in this process: {exc}"
            ) from None
    if unset_environment:
        for var in _VARS:
            env.pop(var, None)
    return fds


def listen_sockets(*, unset_environment: bool = True) -> dict[str, socket.socket]:
    """The passed sockets by name; a repeated name keeps its first fd."""
    sockets: dict[str, socket.socket] = {}
    for item in listen_fds(unset_environment=unset_environment):
        sockets.setdefault(item.name, item.socket())
    return sockets
