"""Transport half of a client connection: corked output, paused input, closing.

Invariant: bytes reach the client in the order they were sent (corked output is
flushed before any close, half-close or tunnel); reading stays paused while any pause
reason is set and resumes only when none is; and closing after a response never turns
into a RST that destroys that response (lingering half-close). While `write_paused`,
`write_paused_at` is when the pause began, so the sweep can tell a client that stopped
reading (paused longer than write_timeout) from a slow one.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from changeover.proxy.context import Context

LINGER = 2.0  # seconds to keep reading (and discarding) after half-closing


class ClientConnection(asyncio.Protocol):
    # Reasons for pausing client reads; reading resumes only when none is left.
    PAUSE_QUEUE, PAUSE_UPSTREAM, PAUSE_PENDING, PAUSE_UPGRADE, PAUSE_HANDOVER = 1, 2, 4, 8, 16

    __slots__ = (
        "closed",
        "ctx",
        "dead",
        "deadline",
        "lingering",
        "out",
        "paused",
        "transport",
        "write_paused",
        "write_paused_at",
    )

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.transport = cast(asyncio.Transport, None)
        # Corked output: a list while corked (Upstream.data_received sets it, so a response
        # head and body leave in one writev), flushed by flush().
        self.out: list[bytes] | None = None
        self.paused = 0
        self.write_paused = self.closed = self.lingering = False
        self.dead = False  # parser failed or closing: input is read and discarded
        self.deadline = 0.0
        self.write_paused_at = 0.0

    def write_stalled(self, now: float) -> bool:
        """Writes have been paused (the client not reading) for longer than write_timeout."""
        return self.write_paused and now - self.write_paused_at > self.ctx.config.write_timeout

    def note_write_pause(self, paused: bool) -> None:
        self.write_paused = paused
        if paused:
            self.write_paused_at = self.ctx.clock()

    def send(self, data: bytes) -> None:
        out = self.out
        if out is not None:
            out.append(data)
            return
        transport = self.transport
        if not transport.is_closing():  # uvloop raises on a handle closed by the peer
            transport.write(data)

    def send_parts(self, parts: tuple[bytes, ...]) -> None:
        out = self.out
        if out is not None:
            out += parts
            return
        transport = self.transport
        if not transport.is_closing():
            transport.writelines(parts)

    def flush(self) -> None:
        out = self.out
        if out is None:
            return
        self.out = None
        transport = self.transport
        if out and not transport.is_closing():
            transport.writelines(out)

    def close(self, linger: bool = True) -> None:
        """Close after everything written so far has been sent.

        Lingering (half-close, then read and discard until the client closes or a short
        deadline) keeps unread client bytes from turning our close into a RST, which
        would destroy the response we just sent (e.g. a 400) before the client reads it.
        """
        self.closed = True
        self.flush()
        transport = self.transport
        if transport.is_closing() or self.lingering:
            return
        if not linger or not transport.can_write_eof():
            transport.close()
            return
        self.lingering = self.dead = True
        transport.write_eof()
        self.paused = 0
        transport.resume_reading()
        ctx = self.ctx
        self.deadline = ctx.clock() + min(LINGER, ctx.config.header_timeout)

    def abort(self) -> None:
        self.closed = True
        self.out = None
        self.transport.abort()

    def pause(self, reason: int) -> None:
        if not self.paused:
            self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reasons: int) -> None:
        if self.paused & reasons:
            self.paused &= ~reasons
            if not self.paused and not self.closed:
                self.transport.resume_reading()
