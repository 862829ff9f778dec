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

When the preview ends, its connections close as the builtin proxy's do when its preview
listener closes: idle ones at once, busy ones after their answer. HAProxy has no
command that closes an idle connection (it has no stream, so `shutdown session` cannot
name it) and sees no address on a passed one, so the agent notes the socket inode of
each connection it passes and, when the preview ends (`retire`), finds them among
HAProxy's descriptors (/proc), leaves those HAProxy has a stream on (`show sess`:
`stream_fds`), and shuts the reading side of the others through a copy of HAProxy's
descriptor (`pidfd_getfd`, `shut_idle`): HAProxy reads the end and closes the
connection. Busy ones are looked at again until they are idle or gone; their answers
say `Connection: close` when there is no preview revision any more (routes.py). The
agent keeps no descriptor of a passed connection: one it kept would hold the
connection open after HAProxy closed it without a shutdown (a failed TLS handshake, an
error), leaving its client waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import functools
import os
import re
import socket
from collections import deque

BATCH = 64  # connections accepted per wake-up
MAX_NOTED = 1 << 16  # inodes noted per preview; connections past it finish on their own
PIDFD_GETFD = 438  # the syscall's number, the same on every Linux architecture (5.6+)


class PreviewPass:
    """Accepts on the agent's preview socket and passes connections to HAProxy."""

    def __init__(self) -> None:
        self._listener: socket.socket | None = None
        self._pair: socket.socket | None = None  # the agent's end
        self._waiting: deque[socket.socket] = deque()  # accepted, not yet passed
        self._reading = False
        self._writing = False
        self.passed = 0
        self._noted: set[int] = set()  # socket inodes of the connections passed
        self.retiring: set[int] = set()  # of those, the ones the preview ended for

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
        self._noted.clear()  # its connections went with it
        self.retiring.clear()

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
            passed = self._waiting.popleft()
            if len(self._noted) < MAX_NOTED:
                self._noted.add(os.fstat(passed.fileno()).st_ino)
            passed.close()  # HAProxy has its own copy now
            self.passed += 1
        if self._writing:
            self._unwatch()
            self._watch()
        return True

    def shutdown(self) -> None:
        self.close()
        self.lost()

    def retire(self) -> None:
        """The preview ended for every connection passed so far (`shut_idle`)."""
        self.retiring |= self._noted
        self._noted.clear()


# --- the preview's end: which connections HAProxy is busy with, and shutting the others --

_SCF_FD = re.compile(r"\bscf=\[[^\]]*\bfd=(\d+)\]")


def stream_fds(answer: str) -> set[int]:
    """HAProxy's descriptors of the client connections that have a stream on the preview
    bind, from a `show sess` answer (the bind is the only `sockpair` one; the brief line
    of a stream ends its client side with `scf=[..,fd=N]`)."""
    out = set()
    for line in answer.splitlines():
        if "proto=sockpair" in line.split():
            found = _SCF_FD.search(line)
            if found is not None:
                out.add(int(found.group(1)))
    return out


def shut_idle(pid: int, inodes: set[int], busy: set[int]) -> set[int]:
    """Shut the reading side of each connection of HAProxy's worker `pid` whose socket
    inode is in `inodes` and whose descriptor is not in `busy` (HAProxy has a stream on
    those); return the inodes of the busy ones (the others are shut or gone). OSError
    when /proc or `pidfd_getfd` is refused (then the rest are not shut)."""
    left = set()
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            fd = int(name)
            inode = _inode(pid, fd)
            if inode is None or inode not in inodes:
                continue
            if fd in busy:
                left.add(inode)
                continue
            _shut_read(pidfd, fd, inode)
    finally:
        os.close(pidfd)
    return left


def _inode(pid: int, fd: int) -> int | None:
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except FileNotFoundError:
        return None  # closed since the listing
    if target.startswith("socket:[") and target.endswith("]"):
        return int(target[8:-1])
    return None


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _shut_read(pidfd: int, fd: int, inode: int) -> None:
    """`shutdown(SHUT_RD)` on HAProxy's connection `fd` through a copy of it, if it is
    still the socket `inode` (a descriptor number is reused once closed)."""
    mine = _libc().syscall(PIDFD_GETFD, pidfd, fd, 0)
    if mine < 0:
        code = ctypes.get_errno()
        if code == errno.EBADF:  # closed since the listing
            return
        raise OSError(code, f"pidfd_getfd: {os.strerror(code)}")
    try:
        same = os.fstat(mine).st_ino == inode
    except OSError:
        same = False
    if not same:
        os.close(mine)
        return
    with socket.socket(fileno=mine) as conn, contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RD)  # OSError: reset meanwhile, it ends anyway


__all__ = ["PreviewPass", "shut_idle", "stream_fds"]
