"""HTTP readiness of a new generation through the shared public socket.

Invariant: an answer counts only if the accepted end of the probe's connection is held
by a process of the new generation, so the old generation, which shares the listening
socket, can never make a new one look ready. The holder is looked up in /proc once the
connection is accepted and *before* the request is sent: the server then waits for the
request, so even one that closes right after answering (gunicorn's sync workers) is
still holding the socket when we look.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psutil

from changeover.hotrestart.gate import http_ready
from changeover.hotrestart.owner import held_by, read_rows, server_inode

PERIOD = 0.1
TIMEOUT = 1.0
_HEAD_LIMIT = 65536
_LOOK_FIRST, _LOOK_MAX = 0.001, 0.02  # /proc is read often at first, then less


def generation_pids(main_pid: int) -> set[int]:
    """The main process and every descendant (workers of a pre-fork server)."""
    try:
        main = psutil.Process(main_pid)
        return {main_pid} | {p.pid for p in main.children(recursive=True)}
    except psutil.Error:
        return set()


def status_of(head: bytes) -> int | None:
    """The status code of a response head (b"HTTP/1.1 200 OK\\r\\n..."), if well formed."""
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        return None
    return int(parts[1])


async def accepted_inode(server_port: int, client: tuple[str, int]) -> int:
    """The inode of the server's end of our connection, once a process has accepted it.

    Until then the kernel shows inode 0 (the connection waits in the listen queue); the
    caller bounds the wait.
    """
    pause = _LOOK_FIRST
    while (inode := server_inode(read_rows(), server_port, client)) is None:
        await asyncio.sleep(pause)
        pause = min(pause * 2, _LOOK_MAX)
    return inode


async def probe_once(
    target: tuple[str, int], path: str, pids: Callable[[], set[int]], within: float = TIMEOUT
) -> int | None:
    """The status a process of the generation answered `GET path` with; None if none of
    its processes took the connection, or no answer came within `within` seconds."""
    writer = None
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(*target)
            client = writer.get_extra_info("sockname")[:2]
            if not held_by(await accepted_inode(target[1], client), pids()):
                return None  # another generation took it: it gets an EOF, no request
            host = f"[{target[0]}]" if ":" in target[0] else target[0]
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{target[1]}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            return status_of(head[:_HEAD_LIMIT])
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None  # TimeoutError included: not answering yet
    finally:
        if writer is not None:
            writer.close()  # not awaited: the answer is known, the close needs no wait


async def wait_ready(
    target: tuple[str, int], path: str, pids: Callable[[], set[int]], period: float = PERIOD
) -> None:
    """Return once the generation answers `path` with 200-399; the caller bounds the wait."""
    while True:
        status = await probe_once(target, path, pids)
        if status is not None and http_ready(status):
            return
        await asyncio.sleep(period)
