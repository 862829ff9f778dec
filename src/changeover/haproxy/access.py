"""The access log on the haproxy engine: HAProxy's request log lines (`logline.Access`)
written as the builtin proxy's JSON lines, to the same file, through the same appender
(`proxy.access.LineFile`: reopened when rotated by renaming, a failed batch dropped with
one warning).

Invariant: a line has the fields of docs/spec.md ("The access log") in their order, and
no query string unless `access_log_query`: HAProxy is told to keep none
(`logline.access_vars`), and the path is cut at its `?` here too, so neither a
configuration mistake nor an odd target lets one through. Lines are written in
batches (FLUSH_DELAY after the first one waits, or as soon as MAX_LINES wait, and when
the engine stops); no request waits for a write: HAProxy sent its line already.

What HAProxy cannot tell, and the builtin can (docs/haproxy.md, "The access log"):
`time` is when HAProxy logged the exchange (as it ended), by HAProxy's clock;
`duration` is HAProxy's `%Ta`, in whole milliseconds, from the first byte of the request
head; `bytes` is the response's Content-Length (0 for HEAD, 1xx, 204, 304), the page's
length for HAProxy's own 502/503/504, and `null` for a chunked or close-delimited
body, a response cut short or HAProxy's other answers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _quote

from changeover.haproxy import errorpages
from changeover.haproxy.logline import Access
from changeover.proxy.access import LineFile
from changeover.proxy.errors import NO_REPLICA, closed_early, not_responding, upstream

MAX_LINES = 1024  # waiting lines that trigger a write at once
FLUSH_DELAY = 0.25  # seconds a line may wait for its batch
_LINE = (
    b'{"time":"%b.%03dZ","revision":%b,"replica":%b,"method":%b,"path":%b,"status":%b,'
    b'"duration":%.6f,"bytes":%b,"request_id":%b,"client":%b,"error":%b}\n'
)
_NULL = b"null"
NO_BODY = frozenset({204, 304})
CLIENT_LEFT = "the client closed the connection before the response ended"


def error(entry: Access, response_timeout: float) -> str | None:
    """Why the exchange did not end with a replica's complete answer, from HAProxy's
    termination state (`--`: it did); the builtin's words where they say the same."""
    state, name, status = entry.state, entry.logged.server, entry.logged.status
    if state == "--":
        return None
    first, second = state[0], state[1]
    if first == "C":
        return CLIENT_LEFT
    if first == "c":
        if second == "R":
            return "request head not received in time"
        return "the client stopped reading (write_timeout)"
    if (name is None and status == 503) or second == "Q":
        return NO_REPLICA
    if second == "C":
        return f"could not connect to {upstream(name)} ({state})"
    if first == "s" and second == "H":
        return not_responding(name, response_timeout)
    if first == "S":
        return closed_early(name)
    if first == "s":
        return f"{upstream(name)} sent nothing for {response_timeout:g}s during the response"
    if first == "P" and second == "R":
        return "malformed request (refused by haproxy)"
    return f"ended by haproxy ({state})"


def answered_by_haproxy(entry: Access) -> bool:
    """HAProxy sent the response itself, no replica's byte in it: an error before the
    replica's response head (the builtin's 'canned' answers)."""
    return entry.state != "--" and entry.state[1] in "RQCHT" and entry.logged.status > 0


def body_bytes(entry: Access, response_timeout: float) -> int | None:
    """The response body bytes sent, where HAProxy lets them be known (see the module)."""
    status = entry.logged.status
    if status <= 0:
        return 0
    head = entry.method == b"HEAD"
    if answered_by_haproxy(entry):
        if status not in errorpages.STATUSES:
            return None
        return 0 if head else len(errorpages.body(status, response_timeout))
    if entry.state != "--":
        return None  # cut short: HAProxy's byte count includes the head
    if head or status < 200 or status in NO_BODY:
        return 0
    return entry.length


class HaproxyAccessLog:
    """Lines waiting for their batch, and the file they go to."""

    def __init__(
        self,
        path: str,
        query: bool,
        response_timeout: float,
        later: Callable[[float, Callable[[], None]], object],
    ) -> None:
        self.file = LineFile(path, "access log")
        self.query = query
        self.response_timeout = response_timeout
        self._later = later  # the loop's call_later
        self._lines: list[bytes] = []
        self._second = -1
        self._stamp = b""

    def add(self, entry: Access, revision: int | None) -> None:
        self._lines.append(self.line(entry, revision, entry.ended))
        if len(self._lines) >= MAX_LINES:
            self.flush()
        elif len(self._lines) == 1:
            self._later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        if lines:
            self.file.append(b"".join(lines), len(lines))

    def close(self) -> None:
        self.flush()
        self.file.close()

    @property
    def written(self) -> int:
        return self.file.written

    def line(self, entry: Access, revision: int | None, wall: float) -> bytes:
        """The JSON line, its `time` `wall` (seconds since the epoch)."""
        # truncated to the ms, as the builtin's; HAProxy's .123 as a float is .12299...
        second, ms = divmod(math.floor(wall * 1000 + 1e-6), 1000)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        logged = entry.logged
        replica = None if answered_by_haproxy(entry) else logged.server
        path = entry.path
        if path is not None and not self.query:
            path = path.partition(b"?")[0]
        why = error(entry, self.response_timeout)
        length = body_bytes(entry, self.response_timeout)
        return _LINE % (
            self._stamp,
            ms,
            _NULL if revision is None else b"%d" % revision,
            _NULL if replica is None else _quote(replica).encode(),
            _NULL if entry.method is None else _json(entry.method),
            _NULL if path is None else _json(path),
            b"%d" % logged.status if logged.status > 0 else _NULL,
            max(entry.active_ms, 0) / 1000.0,
            _NULL if length is None else b"%d" % length,
            _NULL if entry.request_id is None else _json(entry.request_id),
            _NULL if entry.client == "-" else _quote(entry.client).encode(),
            _NULL if why is None else _quote(why).encode(),
        )


def _json(raw: bytes) -> bytes:
    """Request bytes as JSON text, as the builtin writes them: UTF-8, other bytes `\\xNN`."""
    return _quote(raw.decode("utf-8", "backslashreplace")).encode()


__all__ = ["HaproxyAccessLog", "answered_by_haproxy", "body_bytes", "error"]
