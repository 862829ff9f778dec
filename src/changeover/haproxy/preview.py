"""The blue-green preview listener on HAProxy: the agent accepts, HAProxy serves.

HAProxy reads its listeners at start, but the agent opens the preview listener when a
blue-green deploy asks for it (`strategy.preview_listen`), long after. So HAProxy starts
with one end of a unix socketpair as fd 4 (`bind sockpair@4 name preview`), and the
agent accepts each preview connection itself and passes its fd over the pair
(SCM_RIGHTS, one byte per fd: what HAProxy's `sockpair@` reads). HAProxy then serves it
as any client connection, routed to the preview revision's slot (`haproxy/routes.py`).
A preview listener can open, close and move to another address with no HAProxy restart.
Under `[proxy] tls` the bind has the public one's TLS options and file: the agent never
reads a byte, so HAProxy makes the handshake, and a `set ssl cert` reaches it too.

Invariant: an accepted connection is either handed to HAProxy or closed, never kept.
While HAProxy is not running (not started, or being restarted) or does not read fast
enough (the pair's buffer is full), the agent stops accepting, so clients wait in the
listener's backlog rather than being refused; it accepts again once HAProxy can take
them. Only the preview's connections pass here; public traffic never touches the agent.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque

BATCH = 64  # connections accepted per wake-up


class PreviewPass:
    """Accepts on the agent's preview socket and passes connections to HAProxy."""

    def __init__(self) -> None:
        self._listener: socket.socket | None = None
        self._pair: socket.socket | None = None  # the agent's end
        self._waiting: deque[socket.socket] = deque()  # accepted, not yet passed
        self._reading = False
        self._writing = False
        self.passed = 0

    # --- HAProxy's side ----------------------------------------------------------------

    def new_pair(self) -> socket.socket:
        """A fresh pair for a HAProxy about to start: its end is returned (for fd 4;
        close it once HAProxy has it); the agent keeps the other."""
        self.lost()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setblocking(False)
        self._pair = ours
        return theirs

    def started(self) -> None:
        """HAProxy runs with the pair: accept (again)."""
        self._watch()

    def lost(self) -> None:
        """HAProxy is gone: stop accepting; connections not passed yet are closed."""
        self._unwatch()
        pair, self._pair = self._pair, None
        if pair is not None:
            pair.close()
        while self._waiting:
            self._waiting.popleft().close()

    # --- the agent's side --------------------------------------------------------------

    def open(self, listener: socket.socket) -> None:
        if self._listener is not None:
            raise RuntimeError("the preview listener is already open")
        listener.setblocking(False)
        self._listener = listener
        self._watch()

    def close(self) -> None:
        """Stop accepting; connections HAProxy has go on until their clients are done."""
        self._unwatch()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    @property
    def address(self) -> tuple[str, int] | None:
        if self._listener is None:
            return None
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    @property
    def stalled(self) -> bool:
        """Waiting for HAProxy to read the pair (accepting stopped meanwhile)."""
        return self._writing

    # --- moving connections --------------------------------------------------------------

    def _watch(self) -> None:
        if self._listener is None or self._pair is None:
            return
        loop = asyncio.get_running_loop()
        if self._waiting:
            if not self._writing:
                loop.add_writer(self._pair.fileno(), self._flush)
                self._writing = True
        elif not self._reading:
            loop.add_reader(self._listener.fileno(), self._accept)
            self._reading = True

    def _unwatch(self) -> None:
        if not (self._reading or self._writing):
            return
        loop = asyncio.get_running_loop()
        if self._reading and self._listener is not None:
            loop.remove_reader(self._listener.fileno())
        if self._writing and self._pair is not None:
            loop.remove_writer(self._pair.fileno())
        self._reading = self._writing = False

    def _accept(self) -> None:
        listener = self._listener
        if listener is None:
            return
        for _ in range(BATCH):
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # a client that left before it was accepted, or out of fds
            self._waiting.append(conn)
            if not self._flush():
                return

    def _flush(self) -> bool:
        """Pass what waits; False when the pair is full (accepting stops meanwhile)."""
        pair = self._pair
        while self._waiting and pair is not None:
            conn = self._waiting[0]
            try:
                socket.send_fds(pair, [b"\0"], [conn.fileno()])
            except (BlockingIOError, InterruptedError):
                self._unwatch()
                self._watch()  # waits for the pair to be writable, not for clients
                return False
            except OSError:
                self._waiting.popleft().close()  # HAProxy is gone: `lost` follows
                continue
            self._waiting.popleft().close()  # HAProxy has its own copy now
            self.passed += 1
        if self._writing:
            self._unwatch()
            self._watch()
        return True

    def shutdown(self) -> None:
        self.close()
        self.lost()


__all__ = ["PreviewPass"]
