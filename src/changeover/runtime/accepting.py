"""Stopping the server's accept loop at the stop signal when a successor shares its socket.

Under `changeover run` (hot restart) the next generation accepts on the same listening
socket the moment it is ready, so the old one has no reason to take new connections while
it drains; one it took in its last instant could be closed by the server's shutdown before
the request on it was read. Elsewhere (Kubernetes, the agent's replicas) a stopping
process keeps accepting for `drain_delay`, because nothing else may be serving yet.

Invariant: only this process's listeners are closed (its own descriptors: the socket stays
open in every process that shares it), each on the loop that owns it; a server we cannot
find (any but uvicorn's, alone or in gunicorn's UvicornWorker) is left alone and the
drain goes on as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from typing import Protocol


class Listener(Protocol):
    """An accept loop: asyncio's `Server`, or uvloop's (not an `asyncio.AbstractServer`)."""

    def close(self) -> None: ...
    def get_loop(self) -> asyncio.AbstractEventLoop: ...


HANDOVER_ENV = "CHANGEOVER_GENERATION"  # set by `changeover run` for every generation


def successor_shares_listener(env: Mapping[str, str]) -> bool:
    return bool(env.get(HANDOVER_ENV))


def listeners(handlers: Iterable[object]) -> list[Listener]:
    """The asyncio servers of the server whose signal handler we chained (uvicorn's
    `Server.handle_exit` is a bound method, and its `servers` are the accept loops)."""
    found: list[Listener] = []
    for handler in handlers:
        servers = getattr(getattr(handler, "__self__", None), "servers", None)
        if isinstance(servers, list):
            found += [s for s in servers if callable(getattr(s, "close", None))
                      and callable(getattr(s, "get_loop", None))]  # fmt: skip
    return found


def stop_accepting(servers: Iterable[Listener]) -> int:
    """Close each listener on its own loop (we run on the drain thread); how many."""
    closed = 0
    for server in servers:
        with contextlib.suppress(RuntimeError, AttributeError):  # loop closed; not asyncio's
            server.get_loop().call_soon_threadsafe(server.close)
            closed += 1
    return closed
