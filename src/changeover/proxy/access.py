"""The access log: one JSON line per request, written in batches off the request path.

Invariant: while the log is off a request costs the proxy one attribute check
(`Downstream.access` is None); while it is on, one tuple appended to a list when its
exchange ends, plus the body bytes counted as they are relayed (`CountingUpstream`).
Lines are formatted and written together on the proxy's sweep, as soon as MAX_RECORDS
wait, and at shutdown, so no request waits for a write. What can still change once an
exchange has ended (status, error, bytes) is taken when it ends; the rest (method, head,
endpoint, client address) never changes after and is read when the line is written. A
write that fails drops its batch with one warning and never raises into the proxy.
No header value reaches a line (the request id aside), and no query string unless
`access_log_query` asks for it: either may carry a secret.

A line, the contract of docs/spec.md ("The access log")::

    {"time":"2026-12-08T10:00:00.123Z","revision":3,"replica":"r3-1","method":"GET",
     "path":"/api/items","status":200,"duration":0.001234,"bytes":2,
     "request_id":"9f3c2a1b7e-1a","client":"198.51.100.7","error":null}
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _quote
from typing import TYPE_CHECKING

from changeover.proxy.upstream import BODY, Upstream

if TYPE_CHECKING:
    from changeover.proxy.exchange import Exchange

log = logging.getLogger("changeover.proxy")
MAX_RECORDS = 1024  # waiting records that trigger a write before the next sweep (~250 KB)
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
_LINE = (
    '{"time":"%s.%03dZ","revision":%s,"replica":%s,"method":%s,"path":%s,"status":%s,'
    '"duration":%.6f,"bytes":%d,"request_id":%s,"client":%s,"error":%s}\n'
)
# When it ended (proxy clock), the exchange, status (0: none sent), why the proxy
# answered or cut it (None: the replica answered), body bytes sent, and whether the
# proxy made the answer itself (then no replica is named).
Record = tuple[float, "Exchange", int, str | None, int, bool]


class AccessLog:
    """The records of ended exchanges; `flush` appends them to `path` as lines."""

    def __init__(
        self,
        path: str,
        query: bool,
        clock: Callable[[], float],
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.query = query
        self.clock = clock  # the proxy's: records are stamped with its `now`
        self.wall = wall
        self.records: list[Record] = []
        self.written = self.dropped = 0  # lines
        self._fd = -1
        self._failing = False
        self._second = -1  # the whole second `_stamp` formats
        self._stamp = ""

    # -- when an exchange ends (only while the log is on) -----------------------------

    def served(self, ex: Exchange) -> None:
        """A complete response: relayed from a replica, or the proxy's own (`error` set)."""
        error = ex.error
        records = self.records
        sent = getattr(ex, "sent", 0)  # set only once a body byte or a canned answer went
        records.append((ex.ds.ctx.now, ex, ex.status, error, sent, error is not None))
        if len(records) >= MAX_RECORDS:
            self.flush()

    def aborted(self, ex: Exchange, responded: bool, why: str) -> None:
        """Ended without a complete response; `responded`: its status line was sent."""
        status = ex.status if responded else 0
        self.refused(ex, status, why, getattr(ex, "sent", 0), canned=False)

    def refused(self, ex: Exchange, status: int, why: str, sent: int, canned: bool = True) -> None:
        """Answered by the proxy outside an exchange's own exit (a 408 mid-head)."""
        self.records.append((ex.ds.ctx.now, ex, status, why, sent, canned))
        if len(self.records) >= MAX_RECORDS:
            self.flush()

    # -- writing ----------------------------------------------------------------------

    def flush(self) -> None:
        """Write every waiting record as one batch (the sweep and shutdown call this)."""
        records = self.records
        if not records:
            return
        self.records = []
        offset = self.wall() - self.clock()  # records carry proxy-clock times
        data = "".join([self._line(record, offset) for record in records]).encode()
        try:
            self._write(data)
        except OSError as exc:
            self.dropped += len(records)
            if not self._failing:  # once per episode, not once per sweep
                log.warning("access log: cannot write %s: %s (lines dropped)", self.path, exc)
            self._failing = True
            return
        if self._failing:
            log.warning("access log: writing %s again (%d lines dropped)", self.path, self.dropped)
        self._failing = False
        self.written += len(records)

    def close(self) -> None:
        self.flush()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _write(self, data: bytes) -> None:
        fd = self._open()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def _open(self) -> int:
        """The fd of `path`, reopened when the path names another file (rotated by
        renaming, or deleted): O_APPEND, so a copy-truncate rotation needs no reopen."""
        fd = self._fd
        if fd >= 0:
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path, follow_symlinks=False))
            except FileNotFoundError:
                same = False
            if same:
                return fd
            self._fd = -1
            os.close(fd)
        self._fd = fd = os.open(self.path, _FLAGS, 0o600)
        return fd

    def _line(self, record: Record, offset: float) -> str:
        now, ex, status, error, sent, canned = record
        wall = now + offset
        second = int(wall)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        method = ex.method
        head = ex.head
        if head is not None:
            data = head.data  # "METHOD SP target SP HTTP/1.1 CRLF ...", rebuilt by us
            target: bytes | None = data[len(method) + 1 : data.index(b"\r\n") - 9]
            request_id = _quote(head.request_id.decode("utf-8", "backslashreplace"))
        else:
            target = getattr(ex, "target", None)  # a refused head's, when it was complete
            request_id = "null"
        if target is not None and not self.query:
            target = target.partition(b"?")[0]
        endpoint = ex.endpoint
        routed = endpoint or (ex.tried[-1] if ex.tried else None)  # a failed connect's
        return _LINE % (
            self._stamp,
            int((wall - second) * 1000),
            "null" if routed is None else routed.revision,
            "null" if canned or endpoint is None else _quote(endpoint.replica_id),
            _quote(method.decode("latin-1")) if method else "null",
            "null" if target is None else _quote(target.decode("utf-8", "backslashreplace")),
            status or "null",
            max(0.0, now - ex.t0) if method else 0.0,  # no method: refused mid-head
            sent,
            request_id,
            _quote(ex.ds.client_ip.decode("latin-1")),
            "null" if error is None else _quote(error),
        )


class CountingUpstream(Upstream):
    """An upstream connection that adds the response body bytes it relays to its
    exchange's `sent`. The proxy opens these only while the access log is on: the
    plain `Upstream` counts nothing, so the off path pays nothing per body chunk."""

    __slots__ = ()

    def on_body(self, body: bytes) -> None:
        ex = self.exchange
        if ex is not None and self.state == BODY:
            ex.sent = getattr(ex, "sent", 0) + len(body)
        Upstream.on_body(self, body)
