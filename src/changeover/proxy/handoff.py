"""Idle client connections handed to another process, and taken from one.

Invariant: only a connection between two requests is handed over (no request parsed or
queued, nothing corked or unsent, no tunnel), so no byte of a request is ever split
between two processes: reading is paused before the socket is duplicated, bytes the
client sends meanwhile wait in the kernel for the new owner, and the old transport is
let go without a FIN or RST because the duplicate keeps the socket open. When the
sender cannot deliver, the connections stay where they were and resume reading. A TLS
connection is never handed over: its session (keys, sequence numbers) lives in this
process, so it ends here (`movable`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from changeover.proxy.context import Context
    from changeover.proxy.downstream import Downstream

Send = Callable[[list[socket.socket]], bool]  # delivers duplicates; False if it could not


def movable(client: Downstream) -> bool:
    """Could another process carry on this connection: a plain one, not a TLS session."""
    return client.transport.get_extra_info("ssl_object") is None


def idle(client: Downstream) -> bool:
    """Between requests with nothing buffered either way, on a real socket, not TLS."""
    return (
        client.current is None
        and client.parsing is None
        and not client.queue
        and client.stash is None
        and not client.tunneled
        and not (client.closed or client.dead or client.lingering)
        and client.out is None
        and not client.write_paused
        and client.transport.get_write_buffer_size() == 0
        and client.transport.get_extra_info("socket") is not None
        and movable(client)
    )


def hand_over_idle(ctx: Context, send: Send) -> int:
    """Give every idle client connection to whoever `send` delivers to; how many went."""
    return give([c for c in ctx.clients if idle(c)], send)


def give(clients: list[Downstream], send: Send) -> int:
    """Give these idle connections to whoever `send` delivers to; how many went."""
    if not clients:
        return 0
    for client in clients:
        client.pause(client.PAUSE_HANDOVER)
    copies = [_duplicate(client) for client in clients]
    try:
        sent = send(copies)
    finally:
        for copy in copies:
            copy.close()  # ours only: the receiver holds its own descriptors
    for client in clients:
        if sent:
            client.abort()  # closes this process's descriptor; the socket lives on
        else:
            client.resume(client.PAUSE_HANDOVER)
    return len(clients) if sent else 0


def _duplicate(client: Downstream) -> socket.socket:
    fd = client.transport.get_extra_info("socket").fileno()
    return socket.socket(fileno=os.dup(fd))
