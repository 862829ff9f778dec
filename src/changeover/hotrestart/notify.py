"""Both ends of the sd_notify protocol: our own socket per generation, and the manager's.

Invariant: a datagram on a generation's socket counts only if the kernel vouches
(SO_PASSCRED) that its sender is that generation's main process or in its process group;
file descriptors smuggled along (FDSTORE) are closed at once, never kept.
"""

from __future__ import annotations

import array
import contextlib
import os
import socket
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

_UCRED = struct.Struct("iII")  # pid, uid, gid
_ANCILLARY = socket.CMSG_SPACE(_UCRED.size) + socket.CMSG_SPACE(64 * 4)


def parse_message(data: bytes) -> dict[str, str]:
    """`b"READY=1\\nSTATUS=up"` -> {"READY": "1", "STATUS": "up"}; lines without "=" are skipped."""
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep and key:
            fields[key] = value
    return fields


def sender_belongs(pid: int | None, main_pid: int, pgid_of: Callable[[int], int]) -> bool:
    """Whether a datagram from `pid` speaks for the generation whose main process is `main_pid`."""
    if pid is None or pid <= 0:
        return False
    if pid == main_pid:
        return True
    try:
        return pgid_of(pid) == main_pid  # a worker of the generation (it leads its own group)
    except OSError:
        return False  # the sender is gone; nobody can vouch for it any more


class NotifySocket:
    """A datagram socket at `path`, bound before the generation starts, 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            self.sock.setblocking(False)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # left by an instance that was killed
            self.sock.bind(str(path))
            os.chmod(path, 0o600)
        except OSError:
            self.sock.close()
            raise

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> list[tuple[int | None, dict[str, str]]]:
        """Every datagram waiting now, with the sender's pid (None if the kernel gave none)."""
        got: list[tuple[int | None, dict[str, str]]] = []
        while True:
            try:
                data, ancdata, _, _ = self.sock.recvmsg(4096, _ANCILLARY, socket.MSG_CMSG_CLOEXEC)
            except (BlockingIOError, InterruptedError):
                return got
            got.append((_sender(ancdata), parse_message(data)))

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _sender(ancdata: Iterable[tuple[int, int, bytes]]) -> int | None:
    pid = None
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = _UCRED.unpack(payload[: _UCRED.size])[0]
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    return pid


def manager_address(env: Mapping[str, str]) -> str | None:
    """The service manager's socket from NOTIFY_SOCKET ("@name" is abstract), or None."""
    raw = env.get("NOTIFY_SOCKET", "")
    if raw.startswith("@"):
        return "\0" + raw[1:]
    return raw if raw.startswith("/") else None


def send_to_manager(address: str, fields: Iterable[str]) -> None:
    """One datagram to the service manager; raises OSError if it cannot be delivered."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.sendto("\n".join(fields).encode(), address)


class Manager:
    """The service manager (systemd) if NOTIFY_SOCKET names one; otherwise nothing happens."""

    def __init__(self, env: Mapping[str, str], say: Callable[[str], None]) -> None:
        self.address = manager_address(env)
        self._say = say
        self._warned = False

    def notify(self, fields: tuple[str, ...]) -> None:
        if self.address is None:
            return
        extra = []
        if "READY=1" in fields:
            extra.append(f"MAINPID={os.getpid()}")  # we stay the main process across upgrades
        if "RELOADING=1" in fields:  # Type=notify-reload wants the reload's start time
            extra.append(f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
        try:
            send_to_manager(self.address, (*fields, *extra))
        except OSError as exc:
            if not self._warned:
                self._warned = True
                self._say(f"cannot notify the service manager at NOTIFY_SOCKET: {exc}")
