"""The access log: one JSON line per request, written in batches off the request path.

Invariant: while the log is off a request costs the proxy nothing: the connections are
plain `Downstream`s and `Upstream`s. While it is on they are `LoggingDownstream`s, which
append one tuple of plain values to a list when an exchange ends, and
`CountingUpstream`s, which count the body bytes they relay (into `Downstream.sent`); the
exits that are not a complete response (aborts, a 408) reach the log through
`Downstream.access`, off the request path. Lines are formatted and written together on
the proxy's sweep, in a callback of their own as soon as MAX_RECORDS wait, and at
shutdown: no request waits for a write, nor its response for a batch. A record holds
values, never the exchange: exchanges die with their request, as they do while the log
is off, instead of living on for the garbage collector to walk. A write that fails drops
its batch with one warning and never raises into the proxy. No header value reaches a
line (the request id aside), and no query string unless `access_log_query` asks for it:
either may carry a secret.

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

from changeover.proxy.downstream import Downstream
from changeover.proxy.headers import RequestHead
from changeover.proxy.upstream import BODY, Upstream

if TYPE_CHECKING:
    from changeover.proxy.context import Context
    from changeover.proxy.exchange import Exchange

log = logging.getLogger("changeover.proxy")
MAX_RECORDS = 1024  # waiting records that trigger a write before the next sweep (~250 KB)
MAX_KNOWN = 4096  # JSON forms of repeated values (paths, clients...) kept between batches
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
# Formatted as bytes: `bytes % ...` costs ~5.8k instructions for a line, `str % ...` ~8.6k.
_LINE = (
    b'{"time":"%b.%03dZ","revision":%b,"replica":%b,"method":%b,"path":%b,"status":%b,'
    b'"duration":%.6f,"bytes":%d,"request_id":%b,"client":%b,"error":%b}\n'
)
_NULL = b"null"
_STATUS = [_NULL, *(b"%d" % status for status in range(1, 1000))]  # 0: no status was sent

# (when it ended on the proxy's clock, status or 0, why the proxy answered or cut it or
# None, body bytes, replica id or None, revision or None, method or b"", the rebuilt
# head or the refused target or None, client address, when its head was complete)
Record = tuple[
    float, int, str | None, int, str | None, int | None, bytes, RequestHead | bytes | None,
    bytes, float,
]  # fmt: skip


class AccessLog:
    """The records of ended exchanges; `flush` appends them to `path` as lines."""

    __slots__ = (
        "_known",
        "_second",
        "_soon",
        "_stamp",
        "_waiting",
        "clock",
        "file",
        "path",
        "query",
        "records",
        "wall",
    )

    def __init__(
        self,
        path: str,
        query: bool,
        clock: Callable[[], float],
        soon: Callable[[Callable[[], None]], object],
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.query = query
        self.clock = clock  # the proxy's: records are stamped with its `now`
        self.wall = wall
        self._soon = soon  # runs a callback on the proxy's loop once the current one ends
        self._waiting = False  # a full buffer's flush is scheduled
        self.records: list[Record] = []
        self.file = LineFile(path, "access log")
        self._second = -1  # the whole second `_stamp` formats
        self._stamp = b""
        self._known: dict[int | str | bytes, bytes] = {}  # value -> its JSON (`_remember`)

    # -- when an exchange ends (only while the log is on) -----------------------------

    def served(self, ex: Exchange) -> None:
        """A complete response: relayed from a replica, or the proxy's own (`error` set).
        `_record` written out for the case every request takes."""
        ds = ex.ds
        sent = ds.sent
        ds.sent = 0  # the next response on the connection counts from here
        error = ex.error
        endpoint = ex.endpoint
        head = ex.head
        if error is None and endpoint is not None and head is not None:  # a replica's
            record: Record = (
                ds.ctx.now, ex.status, None, sent, endpoint.replica_id, endpoint.revision,
                ex.method, head, ds.client_ip, ex.t0,
            )  # fmt: skip
            records = self.records
            records.append(record)
            if len(records) >= MAX_RECORDS:
                self._full()
        else:
            self._record(ex, ex.status, error, sent, error is not None)

    def aborted(self, ex: Exchange, responded: bool, why: str) -> None:
        """Ended without a complete response; `responded`: its status line was sent."""
        ds = ex.ds
        sent = ds.sent
        ds.sent = 0
        self._record(ex, ex.status if responded else 0, why, sent, False)

    def refused(self, ex: Exchange, status: int, why: str, sent: int) -> None:
        """Answered by the proxy outside an exchange's own exit (a 408 mid-head)."""
        self._record(ex, status, why, sent, True)

    def _record(self, ex: Exchange, status: int, why: str | None, sent: int, canned: bool) -> None:
        endpoint = ex.endpoint
        routed = endpoint or (ex.tried[-1] if ex.tried else None)  # a failed connect's
        replica = None if canned or endpoint is None else endpoint.replica_id
        revision = None if routed is None else routed.revision
        # no head was rebuilt for a refused request: the target of its head, if complete
        head = ex.head if ex.head is not None else getattr(ex, "target", None)
        ds = ex.ds
        self.records.append(
            (ds.ctx.now, status, why, sent, replica, revision, ex.method, head, ds.client_ip, ex.t0)
        )
        if len(self.records) >= MAX_RECORDS:
            self._full()

    def _full(self) -> None:
        """Write the batch in a callback of its own: the response that filled it is still
        being sent (its bytes leave when the current callback returns)."""
        if not self._waiting:
            self._waiting = True
            self._soon(self.flush)

    # -- writing ----------------------------------------------------------------------

    def flush(self) -> None:
        """Write every waiting record as one batch (the sweep and shutdown call this)."""
        self._waiting = False
        records = self.records
        if not records:
            return
        self.records = []
        offset = self.wall() - self.clock()  # records carry proxy-clock times
        if len(self._known) > MAX_KNOWN:
            self._known.clear()  # many paths or clients: start over rather than grow
        self.file.append(b"".join([self._line(record, offset) for record in records]), len(records))

    def close(self) -> None:
        self.flush()
        self.file.close()

    @property
    def written(self) -> int:
        return self.file.written

    @property
    def dropped(self) -> int:
        return self.file.dropped

    def _line(self, record: Record, offset: float) -> bytes:
        now, status, error, sent, replica, revision, method, head, client, t0 = record
        wall = now + offset
        second = int(wall)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        known = self._known  # most values repeat from line to line: each made JSON once
        if isinstance(head, tuple):
            target: bytes | None = head[0].split(b" ", 2)[1]  # "METHOD SP target SP ..."
            request_id = _json(head[2])  # unique: never remembered
        else:
            target = head
            request_id = _NULL
        if target is None:
            path = _NULL
        else:
            if not self.query:
                target = target.partition(b"?")[0]
            path = known.get(target) or self._remember(target)
        return _LINE % (
            self._stamp,
            int((wall - second) * 1000),
            _NULL if revision is None else known.get(revision) or self._remember(revision),
            _NULL if replica is None else known.get(replica) or self._remember(replica),
            (known.get(method) or self._remember(method)) if method else _NULL,
            path,
            _STATUS[status] if status < 1000 else b"%d" % status,
            now - t0 if method else 0.0,  # no method: refused mid-head
            sent,
            request_id,
            known.get(client) or self._remember(client),
            _NULL if error is None else _quote(error).encode(),
        )

    def _remember(self, value: int | str | bytes) -> bytes:
        """`value` as JSON, kept in `_known` for the lines that follow."""
        if isinstance(value, int):
            found = b"%d" % value
        elif isinstance(value, str):
            found = _quote(value).encode()
        else:
            found = _json(value)
        self._known[value] = found
        return found


def _json(raw: bytes) -> bytes:
    """Request bytes (a path, a request id) as a JSON string: UTF-8, other bytes `\\xNN`."""
    return _quote(raw.decode("utf-8", "backslashreplace")).encode()


class LineFile:
    """A file that batches of lines are appended to: reopened when its path names another
    file (rotated by renaming, or deleted), O_APPEND so that a copy-truncate rotation
    needs no reopen. A batch that cannot be written is dropped with one warning per
    episode, never raised: the haproxy engine's access log writes through one too."""

    __slots__ = ("_failing", "_fd", "dropped", "name", "path", "written")

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name  # in the warnings
        self.written = self.dropped = 0  # lines
        self._fd = -1
        self._failing = False

    def append(self, data: bytes, lines: int) -> None:
        try:
            self._write(data)
        except OSError as exc:
            self.dropped += lines
            if not self._failing:  # once per episode, not once per sweep
                log.warning("%s: cannot write %s: %s (lines dropped)", self.name, self.path, exc)
            self._failing = True
            return
        if self._failing:
            log.warning(
                "%s: writing %s again (%d lines dropped)", self.name, self.path, self.dropped
            )
        self._failing = False
        self.written += lines

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _write(self, data: bytes) -> None:
        fd = self._open()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def _open(self) -> int:
        """The fd of `path`, reopened when the path names another file."""
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


class LoggingDownstream(Downstream):
    """A client connection that records each exchange ending with a complete response.
    The proxy accepts these only while the access log is on."""

    __slots__ = ("log",)

    def __init__(self, ctx: Context, preview: bool = False) -> None:
        super().__init__(ctx, preview)
        log = ctx.access
        assert log is not None, "a LoggingDownstream needs the access log"
        self.log = log

    def exchange_done(self, ex: Exchange) -> None:
        self.log.served(ex)  # first: a pipelined exchange started next logs after it
        Downstream.exchange_done(self, ex)


class CountingUpstream(Upstream):
    """An upstream connection that adds the response body bytes it relays to the client
    connection's `sent`. The proxy opens these only while the access log is on: the
    plain `Upstream` counts nothing, so the off path pays nothing per body chunk."""

    __slots__ = ()

    def on_body(self, body: bytes) -> None:
        # Upstream.on_body plus the count, written out: a call more per chunk costs ~1.5k
        # instructions (tests/io/proxy/test_proxy_bytes_access.py relays both framings).
        ex = self.exchange
        if self.state != BODY or ex is None:
            self.reusable = False
            return
        ds = ex.ds
        ds.sent += len(body)
        if ex.chunked:
            ds.send_parts((b"%x\r\n" % len(body), body, b"\r\n"))
        else:
            ds.send(body)
