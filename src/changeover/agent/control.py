"""The control socket: a unix socket with mode 0600 (0660 for `[control] group`), served
by uvicorn in the agent's loop.

Invariant: the socket file exists only while an agent serves it, and only the owning user
can connect, or with `[control] group` the members of that group too: it is created under
umask 0o177 (so nobody could connect before the chown and chmod), then given to the group
with mode 0660, and its folder 0710 with the same group (members reach the socket, never
list or read the state). Without a group the folder is 0700 again. Who connects is read
per connection from SO_PEERCRED (`agent.peer`), so a member acts as itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from changeover.agent.peer import PeerProtocol


class ControlGroupError(Exception):
    """`[control] group` names no group of this machine."""


def group_id(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ControlGroupError(
            f"control.group: no group {group!r} on this machine; create it (groupadd "
            f"{group}) and add the accounts that may use the agent"
        ) from None


def bind_control_socket(path: Path, group: str | None = None) -> socket.socket:
    gid = None if group is None else group_id(group)  # before anything is touched
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # stale file of an agent that died; the lock proved none runs
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    share(path, gid)
    sock.listen(64)
    return sock


def share(path: Path, gid: int | None) -> None:
    """Mode 0600 (folder 0700), or 0660 for group `gid` (folder 0710, that group)."""
    folder = path.parent
    if gid is None:
        os.chmod(path, 0o600)
        if folder.stat().st_uid == os.getuid():
            os.chmod(folder, 0o700)
        return
    os.chown(path, -1, gid)
    os.chmod(path, 0o660)
    os.chown(folder, -1, gid)
    os.chmod(folder, 0o710)


IDLE_KEEP_ALIVE = 120  # seconds an idle control connection stays open


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The agent owns signal handling; uvicorn must not install its own.
        yield


class ControlServer:
    def __init__(
        self, app: ASGIApp, sock: socket.socket, *, max_connections: int | None = None
    ) -> None:
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
            limit_concurrency=max_connections,  # past it, uvicorn answers 503 at once
            # a CLI over ssh keeps one connection for its whole run: do not close it under
            # a command that pauses between requests (uvicorn's default is 5 s)
            timeout_keep_alive=IDLE_KEEP_ALIVE,
            http=PeerProtocol,  # who asks, from SO_PEERCRED (`agent.peer`)
        )
        self._server = _Server(config)
        self._sock = sock
        self._path = sock.getsockname()  # uvicorn closes the socket on shutdown
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                await self._task
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._sock.close()
        if isinstance(self._path, str) and self._path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
