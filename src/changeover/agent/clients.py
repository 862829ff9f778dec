"""Idle client connections passed from the old agent to the new one during a reload.

Invariant: descriptors travel only with SCM_RIGHTS on the handover channel the two
agents already share, at most `BATCH` per message; the new agent adopts every descriptor
it receives (one that cannot be adopted is closed, never leaked), and the old agent lets
go of a connection only after the send that carried it succeeded.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

log = logging.getLogger("changeover.agent")

BATCH = 200  # SCM_RIGHTS carries at most 253 descriptors per message (SCM_MAX_FD)
SEND_TIMEOUT = 5.0
RECEIVE_TIMEOUT = 30.0  # the old agent sends within moments of the new one saying ready


def sender(channel: socket.socket) -> Callable[[list[socket.socket]], bool]:
    """A `send` for `Proxy.shutdown(hand_over=...)`: blocking, bounded, False on failure."""

    def send(socks: list[socket.socket]) -> bool:
        try:
            channel.settimeout(SEND_TIMEOUT)
            for start in range(0, len(socks), BATCH):
                part = socks[start : start + BATCH]
                socket.send_fds(channel, [b"c" * len(part)], [s.fileno() for s in part])
        except OSError as exc:
            log.warning("could not hand %d idle connections to the new agent: %s", len(socks), exc)
            return False
        log.info("handed %d idle client connections to the new agent", len(socks))
        return True

    return send


async def receive(
    channel: socket.socket,
    adopt: Callable[[socket.socket], Awaitable[object]],
    within: float = RECEIVE_TIMEOUT,
) -> int:
    """Adopt what the old agent sends until it closes the channel; how many were adopted."""
    adopted = 0
    with channel:
        channel.setblocking(False)
        try:
            async with asyncio.timeout(within):
                while True:
                    data, fds = await _next_batch(channel)
                    if not data and not fds:
                        break  # the old agent closed the channel: all sent
                    adopted += await _adopt_all(fds, adopt)
        except (OSError, TimeoutError) as exc:
            log.warning("stopped taking client connections from the old agent: %r", exc)
    return adopted


async def _next_batch(channel: socket.socket) -> tuple[bytes, list[int]]:
    """One message and its descriptors, waiting on the loop (no thread) until one comes."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(channel, 4096, BATCH)
            return data, fds
        except BlockingIOError:
            pass
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(channel, _wake, readable)
        try:
            await readable
        finally:
            loop.remove_reader(channel)


def _wake(readable: asyncio.Future[None]) -> None:
    if not readable.done():
        readable.set_result(None)


async def _adopt_all(fds: list[int], adopt: Callable[[socket.socket], Awaitable[object]]) -> int:
    pending = [socket.socket(fileno=fd) for fd in fds]
    adopted = 0
    try:
        while pending:
            sock = pending.pop(0)
            try:
                await adopt(sock)
                adopted += 1
            except (OSError, RuntimeError) as exc:  # the client left meanwhile, or we stop
                log.info("could not adopt a client connection: %s", exc)
                sock.close()
    finally:
        for sock in pending:  # cancelled part way: nothing received may leak
            sock.close()
    return adopted
