"""The request log HAProxy sends the agent, one line per logged request (pure).

Each line is `config.LOG_FORMAT`: `<server> <status> <active ms> <termination state>`,
e.g. `r3-1 200 12 --` or `<NOSRV> 503 0 SC`. The active time (`%Ta`) runs from the
first byte of the request head to the last byte of the response, in whole milliseconds
(HAProxy's resolution, truncated: a line's `12` is read as 12.5 ms, the middle of that
millisecond, so sub-millisecond answers are not all counted as 0), as the builtin proxy's
latency does in finer steps.

With the access log on (`[proxy] access_log`), each line is `ACCESS_FORMAT` instead: the
same four words first, then what the access log needs, the values a client or a replica
chose written as hex (`%[...,hex]`: no byte of a path or a request id can look like a
separator), the path last and a lone `.` after it:
`<server> <status> <active ms> <state> <end, ms since the epoch> <client ip> <method>
<content-length> <request id hex> <path hex> .` (`-` where HAProxy has no value; the end
as HAProxy's clock read it when it logged the exchange, since the agent reads lines in
batches, later). A line longer than the log's `len` is cut by HAProxy: only the path
can be cut (the words before it are short), so a line without its closing `.` is read
with its path cut at a whole byte, and marked `truncated`.

Lines reach the agent through a HAProxy ring buffer forwarded over a unix stream socket
with octet counting (RFC 6587: `<length> <line>`, no separator): `Frames` cuts the stream
into lines.

Invariant: a line that does not have one of these shapes is reported as None, never
guessed at; the caller counts such lines instead of recording them. A stream that is not
octet-counted raises `FramingError` (the caller drops the connection: past a bad length
no later line can be found).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

NO_SERVER = "<NOSRV>"
NONE = b"-"  # HAProxy's word for a value it does not have
END = b"."
# The request's path (without or with its query string: `access_vars`), its request id,
# and the Content-Length its response declared, kept in variables because log-format
# cannot read request or response headers once the exchange ended.
ACCESS_FORMAT = (
    "%s %ST %Ta %ts %[date(0,ms)] %ci %HM %[var(txn.log_length)]"
    " %[var(txn.request_id),hex] %[var(txn.log_path),hex] ."
)
MAX_LINE = 65535  # bytes: the largest `len` HAProxy sends (the path is cut past it)


@dataclass(frozen=True, slots=True)
class Logged:
    server: str | None  # None: HAProxy answered before choosing a replica
    status: int  # -1: no response was sent (the client or the replica went away first)
    seconds: float  # the middle of the millisecond HAProxy wrote (it truncates); -1 ms: 0
    by_proxy: bool  # HAProxy ended the exchange itself (an error, a timeout, an abort)


@dataclass(frozen=True, slots=True)
class Access:
    """An access-log line: `Logged` and what the access log writes besides."""

    logged: Logged
    active_ms: int  # -1: HAProxy did not measure it
    state: str  # the termination state, `--` when the exchange ended normally
    ended: float  # when HAProxy logged it (the exchange's end), seconds since the epoch
    client: str
    method: bytes | None  # None: the request line was malformed (`<BADREQ>`)
    length: int | None  # the Content-Length of the response; None: it declared none
    request_id: bytes | None  # None: the request never reached the rules that set it
    path: bytes | None
    truncated: bool  # the line was cut: `path` is its beginning


def access_vars(query: bool) -> tuple[str, ...]:
    """The rules `ACCESS_FORMAT` needs (frontend lines), after the request id's. The path
    is kept without its query string unless `query`: a query string may hold a secret,
    so it never leaves HAProxy unless asked for."""
    target = "url" if query else "url,field(1,?)"
    return (
        f"http-request set-var(txn.log_path) {target}",
        "http-response set-var(txn.log_length) res.hdr(content-length)",
    )


class FramingError(ValueError):
    """The stream is not `<length> <line>` frames."""


class Frames:
    """Octet-counted frames, fed in pieces of any size (sans-IO)."""

    MAX_DIGITS = 6  # a length above MAX_LINE has no business here

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        """The lines `data` completes, in order; the rest is kept for the next feed."""
        buf = self._pending + data if self._pending else data
        lines: list[bytes] = []
        start, end = 0, len(buf)
        while start < end:
            space = buf.find(b" ", start, start + self.MAX_DIGITS + 1)
            if space < 0:
                if end - start > self.MAX_DIGITS:
                    raise FramingError(f"no frame length in {buf[start : start + 16]!r}")
                break
            digits = buf[start:space]
            if not (digits.isdigit() and digits.isascii()) or digits[:1] == b"0":
                raise FramingError(f"not a frame length: {digits!r}")
            length = int(digits)
            if length > MAX_LINE:
                raise FramingError(f"a frame of {length} bytes is over {MAX_LINE}")
            if space + 1 + length > end:
                break
            lines.append(buf[space + 1 : space + 1 + length])
            start = space + 1 + length
        self._pending = buf[start:]
        return lines

    @property
    def pending(self) -> int:
        """Bytes of a frame not yet complete."""
        return len(self._pending)


def parse(line: bytes) -> Logged | None:
    """A line of either shape, as the metrics need it."""
    words = line.split()
    if len(words) != 4:
        access = parse_access(line)
        return None if access is None else access.logged
    return _logged(words)


def parse_access(line: bytes) -> Access | None:
    """An `ACCESS_FORMAT` line (see the module)."""
    words = line.rstrip(b"\n").split(b" ")
    truncated = words[-1:] != [END]
    if truncated:
        if len(words) != 10:
            return None
    elif len(words) != 11:
        return None
    logged = _logged(words[:4])
    if logged is None:
        return None
    active, state, ended, client, method, length, request_id, path = words[2:10]
    try:
        return Access(
            logged=logged,
            active_ms=int(active),
            state=state.decode("ascii"),
            ended=_length(ended) / 1000.0,
            client=client.decode("ascii"),
            method=None if method.startswith(b"<") else _token(method),
            length=None if length == NONE else _length(length),
            request_id=None if request_id == NONE else binascii.unhexlify(request_id),
            path=None if path == NONE else _unhex(path, truncated),
            truncated=truncated,
        )
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        return None


def _token(word: bytes) -> bytes:
    if not word or not word.isascii():  # HAProxy took it for a method: a token
        raise ValueError(f"not a method: {word!r}")
    return word


def _number(word: bytes) -> bool:
    """Digits, or a minus and digits (`int` alone would take ` 1`, `1_0` or `١`)."""
    digits = word[1:] if word[:1] == b"-" else word
    return digits.isdigit() and digits.isascii()


def _state(word: bytes) -> bool:
    """Two letters or dashes: HAProxy's termination state (`--`, `SC`, `cD`...); any
    other two bytes (`-1`) mean the line is not of our format."""
    return len(word) == 2 and all(c == 0x2D or (chr(c).isalpha() and c < 0x80) for c in word)


def _length(word: bytes) -> int:
    if not (word.isdigit() and word.isascii()):
        raise ValueError(f"not a length: {word!r}")
    return int(word)


def _unhex(word: bytes, truncated: bool) -> bytes:
    if truncated:
        word = word[: len(word) // 2 * 2]  # cut at a whole byte
    return binascii.unhexlify(word)


def _logged(words: list[bytes]) -> Logged | None:
    server, status, active, state = words
    if not (_number(status) and _number(active) and _state(state)) or not server:
        return None
    code, elapsed = int(status), int(active)
    if not -1 <= code <= 999 or elapsed < -1:
        return None
    name = server.decode("ascii", "replace")
    seconds = (elapsed + 0.5) / 1000.0 if elapsed >= 0 else 0.0
    return Logged(None if name == NO_SERVER else name, code, seconds, state != b"--")


__all__ = [
    "ACCESS_FORMAT",
    "MAX_LINE",
    "NO_SERVER",
    "Access",
    "Frames",
    "FramingError",
    "Logged",
    "access_vars",
    "parse",
    "parse_access",
]
