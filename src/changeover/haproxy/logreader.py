"""`LogReader`: the agent's end of HAProxy's request log, a unix stream socket that
HAProxy's ring forwarder connects to (config.py `_ring`; again after each restart of
HAProxy), octet-counted frames in (`logline.Frames`), one call of `on_line` per line out.

Invariant: reads are batched and an idle agent never wakes for the log. A read that
found lines schedules the next one a LOG_TICK later (at once when it read a full
LOG_READ), so lines that keep coming are read in batches, one wake-up a tick; a read
that found none hands the connections to the loop (`add_reader`), and the first byte
after that wakes the agent, which reads at once if the last read is a LOG_TICK old, else
when it will be. Reads are never closer than a LOG_TICK but out of turn (a full read,
`close`, a test calling `read`); `after_read` runs after each read (the engine's surge
rule counts on the reads' spacing). A connection is never left watched once closed (its
fd number is reused), and `close` reads what was sent since the last read first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable

from changeover.haproxy import logline

log = logging.getLogger("changeover.haproxy")

# The request log's stream is read at most once a LOG_TICK while lines keep coming (at
# thousands of lines a second a wake-up per line or two cost the agent more than the
# lines; HAProxy's ring, config.RING_SIZE, holds them meanwhile; a full read reads on at
# once), and on readiness once a read found nothing: an idle agent never wakes for it.
LOG_TICK = 0.05
LOG_READ = 1 << 20  # bytes read per connection per tick, so a flood cannot starve the loop


class LogReader:
    def __init__(
        self, path: str, on_line: Callable[[bytes], None], after_read: Callable[[], None]
    ) -> None:
        self._path = path
        self._on_line = on_line
        self._after_read = after_read
        self._sock: socket.socket | None = None  # listening: HAProxy's ring connects
        self._conns: dict[socket.socket, logline.Frames] = {}
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._watched: set[int] = set()  # connections' fds the loop watches (idle)
        self._read_at = float("-inf")  # the loop's time of the last read
        self.reads = 0  # reads of the request log (an idle agent does none)

    def open(self) -> None:
        """Listen at `path` (mode 0600), replacing what a dead agent left there."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(self._path)
            os.chmod(self._path, 0o600)
            sock.listen(8)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept)

    @property
    def connected(self) -> bool:
        """HAProxy's ring forwarder is connected."""
        return bool(self._conns)

    @property
    def idle(self) -> bool:
        """No read is scheduled: the loop watches the connections, and the agent sleeps
        until a line comes."""
        return self._timer is None and bool(self._watched)

    @property
    def quiet(self) -> bool:
        """Nothing scheduled and nothing watched (after `close`, or `unschedule`)."""
        return self._timer is None and not self._watched

    def _accept(self) -> None:
        """HAProxy's ring forwarder connecting (again after a restart of HAProxy)."""
        listener = self._sock
        if listener is None:
            return
        with contextlib.suppress(BlockingIOError, InterruptedError):
            conn, _ = listener.accept()
            conn.setblocking(False)
            self._conns[conn] = logline.Frames()
            if self._timer is None:  # idle: its first line wakes the agent
                self._watch()

    def read(self) -> None:
        """The lines HAProxy sent since the last read, each to `on_line`; then the next
        read is scheduled (see the module)."""
        self.unschedule()  # called out of turn (close, a test): one schedule
        self.reads += 1
        got = more = False
        for conn in list(self._conns):
            read, full = self._read_conn(conn)
            got, more = got or read, more or full
        self._after_read()
        if self._sock is None:
            return
        loop = asyncio.get_running_loop()
        self._read_at = loop.time()
        if more:  # read on after the loop's other work
            self._timer = loop.call_soon(self.read)
        elif got:  # lines keep coming, likely: the next batch in a tick
            self._timer = loop.call_later(LOG_TICK, self.read)
        else:  # nothing: no wake-up until a line comes
            self._watch()

    def _readable(self) -> None:
        """A line came after a read that found none: read now, or a LOG_TICK after the
        last read, so that reads stay batched when lines come a few at a time."""
        self._unwatch()
        if self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        due = self._read_at + LOG_TICK
        if loop.time() >= due:
            self.read()
        else:
            self._timer = loop.call_at(due, self.read)

    def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        for conn in self._conns:
            fd = conn.fileno()
            if fd not in self._watched:
                loop.add_reader(fd, self._readable)
                self._watched.add(fd)

    def _unwatch(self) -> None:
        if not self._watched:
            return
        loop = asyncio.get_running_loop()
        for fd in self._watched:
            loop.remove_reader(fd)
        self._watched.clear()

    def unschedule(self) -> None:
        """No read is scheduled and nothing is watched until the next `read`."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self._unwatch()

    def _read_conn(self, conn: socket.socket) -> tuple[bool, bool]:
        """Read one connection: whether it had lines, and more than one read's worth."""
        frames = self._conns[conn]
        got = 0
        while got < LOG_READ:
            try:
                data = conn.recv(LOG_READ)
            except (BlockingIOError, InterruptedError):
                return got > 0, False
            except OSError:
                data = b""
            if not data:
                self._drop(conn)
                return got > 0, False
            got += len(data)
            try:
                lines = frames.feed(data)
            except logline.FramingError as exc:
                log.warning("haproxy request log: %s; connection dropped", exc)
                self._drop(conn)
                return True, False
            for line in lines:
                self._on_line(line)
        return True, True

    def _drop(self, conn: socket.socket) -> None:
        self._conns.pop(conn, None)
        fd = conn.fileno()
        if fd in self._watched:  # never left watched: the fd number is reused
            asyncio.get_running_loop().remove_reader(fd)
            self._watched.discard(fd)
        conn.close()

    def close(self) -> None:
        """Read what was sent since the last read, then close everything, the socket
        file included."""
        self.unschedule()
        for conn in list(self._conns):  # the lines sent since the last tick count too
            self._read_conn(conn)
            self._drop(conn)
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)


__all__ = ["LOG_READ", "LOG_TICK", "LogReader"]
