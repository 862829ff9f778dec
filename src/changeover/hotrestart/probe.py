"""HTTP readiness of a new generation through the shared public socket.

Invariant: an answer counts only if the accepted end of the probe's connection is held
by a process of the new generation (checked in /proc while the connection is still
open), so the old generation, which shares the listening socket, can never make a new
one look ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psutil

from changeover.hotrestart.owner import held_by, read_rows, server_inode

PERIOD = 0.1
TIMEOUT = 1.0
_HEAD_LIMIT = 65536


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


async def probe_once(
    target: tuple[str, int], path: str, pids: Callable[[], set[int]], within: float = TIMEOUT
) -> bool | None:
    """True/False: the new generation answered 200-399 / something else; None: it did not answer."""
    writer = None
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(*target)
            host = f"[{target[0]}]" if ":" in target[0] else target[0]
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{target[1]}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            client = writer.get_extra_info("sockname")[:2]
            # Checked before closing: the server's end (its inode) vanishes with the connection.
            inode = server_inode(read_rows(), target[1], client)
            if inode is None or not held_by(inode, pids()):
                return None
            status = status_of(head[:_HEAD_LIMIT])
            return status is not None and 200 <= status < 400
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None  # TimeoutError included: not answering yet
    finally:
        if writer is not None:
            writer.close()  # not awaited: the answer is known, the close needs no wait


async def wait_ready(
    target: tuple[str, int], path: str, pids: Callable[[], set[int]], period: float = PERIOD
) -> None:
    """Return once the generation answers `path` with 200-399; the caller bounds the wait."""
    while not await probe_once(target, path, pids):
        await asyncio.sleep(period)
