"""Request and response head rewriting (pure functions over parsed header lists).

Invariant: a head is forwarded only after it was rebuilt here from headers we
understood. Hop-by-hop headers (and any header named in Connection) never cross the
proxy, message framing is decided exactly once, and a request whose framing is
ambiguous is returned as an error string (answered 400) instead of being forwarded.
X-Forwarded-For is always the client's (if any) with the peer appended; X-Forwarded-Proto
and X-Forwarded-Host are ours (the listener's scheme, the Host), except that a request
from a trusted peer (`trusted`: a load balancer in `[proxy] trusted_proxies`) keeps the
ones it sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

Headers = list[tuple[bytes, bytes]]

# Body framing of one message.
NONE, LENGTH, CHUNKED, CLOSE = 0, 1, 2, 3

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_REQUEST_SPECIAL = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-request-id",
}
_RESPONSE_SPECIAL = HOP_BY_HOP | {b"content-length", b"x-request-id"}
# Connection tokens that name no field to drop: the options themselves, and Host, which
# every HTTP/1.1 request must carry to its end (a client naming it must not strip it).
_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive", b"upgrade", b"", b"host"})


# Names most requests and responses carry that need no special handling, in their usual
# spellings: found with one set lookup, without lowercasing the name first.
_PLAIN = frozenset(
    spelling
    for name in (
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Authorization",
        "Cache-Control",
        "Content-Type",
        "Cookie",
        "Date",
        "ETag",
        "Last-Modified",
        "Location",
        "Origin",
        "Referer",
        "Server",
        "Set-Cookie",
        "User-Agent",
        "Vary",
    )
    for spelling in (name.encode(), name.lower().encode())
)
_STATUS_LINE = [b"HTTP/1.1 %d " % status for status in range(1000)]  # llhttp: 3 digits
_new = tuple.__new__  # builds a NamedTuple without a Python-level __new__ call


class RequestHead(NamedTuple):
    """A rebuilt request head ready to write upstream."""

    data: bytes
    body: int
    request_id: bytes


class ResponseHead(NamedTuple):
    """A rebuilt response head plus how to frame its body towards the client."""

    data: bytes
    upstream_body: int
    chunked: bool
    keep_alive: bool


def rewrite_request(
    method: bytes,
    target: bytes,
    http11: bool,
    headers: Headers,
    upgrade: bool,
    client_ip: bytes,
    proto: bytes,
    new_request_id: Callable[[], bytes],
    trusted: bool = False,
) -> RequestHead | str:
    """Validate and rebuild a request head, or return the reason it must be rejected.
    `trusted`: its peer may set X-Forwarded-Proto and X-Forwarded-Host."""
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    host: bytes | None = None
    length: bytes | None = None
    encoding: bytes | None = None
    forwarded: bytes | None = None
    request_id: bytes | None = None
    upgrade_to: bytes | None = None
    connection: list[bytes] = []
    for name, value in headers:
        if name in _PLAIN:
            parts += (name, b": ", value, b"\r\n")
            continue
        lname = name.lower()
        if lname not in _REQUEST_SPECIAL:
            parts += (name, b": ", value, b"\r\n")
        elif lname == b"host":
            if host is not None:
                return "multiple Host headers"
            host = value
            parts += (name, b": ", value, b"\r\n")
        elif lname == b"content-length":
            if length is not None:
                return "multiple Content-Length headers"
            length = value.rstrip(b" \t")  # llhttp keeps trailing OWS in the value
            if not length.isdigit():
                return "invalid Content-Length"
        elif lname == b"transfer-encoding":
            if encoding is not None:
                return "multiple Transfer-Encoding headers"
            encoding = value
        elif lname == b"connection":
            connection.append(value)
        elif lname == b"upgrade":
            upgrade_to = value
        elif lname == b"x-forwarded-for":
            forwarded = value if forwarded is None else forwarded + b", " + value
        elif lname == b"x-request-id":
            request_id = request_id or value
    if connection:
        _drop_connection_named(parts, connection, 4)
    if host is None or length is not None or encoding is not None or upgrade:
        problem = _framing_problem(
            method, length, encoding, upgrade, host is not None or not http11
        )
        if problem is not None:
            return problem
        if host is None:
            parts.append(b"Host: \r\n")  # HTTP/1.1 upstream requires one; empty is legal
        body = _add_request_framing(parts, length, encoding)
        if upgrade and upgrade_to is not None:
            parts += (b"Connection: upgrade\r\nUpgrade: ", upgrade_to, b"\r\n")
    else:
        body = NONE  # the common case: a Host, no body, no upgrade
    forwarded = client_ip if forwarded is None else forwarded + b", " + client_ip
    if trusted:  # another pass over its fields, so no other request pays for one
        proto, host = _sent_forwarding(headers, proto, host)
    # X-Forwarded-Proto and -Host (the loop dropped the client's): ours, or a trusted peer's
    parts += (b"X-Forwarded-For: ", forwarded, b"\r\nX-Forwarded-Proto: ", proto, b"\r\n")
    if host is not None:
        parts += (b"X-Forwarded-Host: ", host, b"\r\n")
    if request_id is None:
        request_id = new_request_id()
    parts += (b"X-Request-Id: ", request_id, b"\r\n\r\n")
    return _new(RequestHead, (b"".join(parts), body, request_id))


def _sent_forwarding(
    headers: Headers, proto: bytes, host: bytes | None
) -> tuple[bytes, bytes | None]:
    """A trusted peer's X-Forwarded-Proto and X-Forwarded-Host, each field's lines joined
    as one list, else `proto` and `host` (ours)."""
    sent_proto: list[bytes] = []
    sent_host: list[bytes] = []
    for name, value in headers:
        lname = name.lower()
        if lname == b"x-forwarded-proto":
            sent_proto.append(value)
        elif lname == b"x-forwarded-host":
            sent_host.append(value)
    return (
        b", ".join(sent_proto) if sent_proto else proto,
        b", ".join(sent_host) if sent_host else host,
    )


def _add_request_framing(parts: list[bytes], length: bytes | None, encoding: bytes | None) -> int:
    if encoding is not None:
        parts.append(b"Transfer-Encoding: chunked\r\n")
        return CHUNKED
    if length is None:
        return NONE
    parts += (b"Content-Length: ", length, b"\r\n")
    return LENGTH if int(length) else NONE


def _framing_problem(
    method: bytes, length: bytes | None, encoding: bytes | None, upgrade: bool, host_ok: bool
) -> str | None:
    """Why this request's framing is unsafe to forward, or None if it is fine."""
    if length is not None and encoding is not None:
        return "both Content-Length and Transfer-Encoding"
    if encoding is not None and encoding.strip().lower() != b"chunked":
        return "unsupported Transfer-Encoding (only chunked is accepted)"
    if upgrade:
        if method == b"CONNECT":
            return "CONNECT is not supported"
        if encoding is not None or (length is not None and int(length)):
            return "an upgrade request cannot carry a body"
    if not host_ok:
        return "missing Host header"
    return None


def _drop_connection_named(parts: list[bytes], connection: list[bytes], start: int) -> None:
    """Remove headers listed in Connection (rare: only when it names real headers).

    `parts` is the start line (`start` items) then groups of (name, ": ", value, CRLF).
    """
    named = {t.strip().lower() for v in connection for t in v.split(b",")} - _CONNECTION_OPTIONS
    if not named:
        return
    kept = parts[:start]
    for i in range(start, len(parts), 4):
        if parts[i].lower() not in named:
            kept += parts[i : i + 4]
    parts[:] = kept


def rewrite_response(
    status: int,
    reason: bytes,
    headers: Headers,
    request_id: bytes,
    no_body: bool,
    client11: bool,
    keep_alive: bool,
) -> ResponseHead | str:
    """Rebuild a final (or 101) response head for the client, or return why it is invalid."""
    line = _STATUS_LINE[status] if status < 1000 else b"HTTP/1.1 %d " % status
    parts = [line, reason, b"\r\n"]
    length: bytes | None = None
    encoding: bytes | None = None
    upgrade_to: bytes | None = None
    connection: list[bytes] = []
    for name, value in headers:
        if name in _PLAIN:
            parts += (name, b": ", value, b"\r\n")
            continue
        lname = name.lower()
        if lname not in _RESPONSE_SPECIAL:
            parts += (name, b": ", value, b"\r\n")
        elif lname == b"content-length":
            length = value
        elif lname == b"transfer-encoding":
            encoding = value
        elif lname == b"connection":
            connection.append(value)
        elif lname == b"upgrade":
            upgrade_to = value
    if connection:
        _drop_connection_named(parts, connection, 3)
    if no_body:
        mode = NONE
    elif encoding is not None:
        if encoding.strip().lower() != b"chunked":
            return f"unsupported response Transfer-Encoding {encoding.decode('latin-1')!r}"
        mode = CHUNKED
    else:
        mode = CLOSE if length is None else LENGTH
    delimited = mode in (NONE, LENGTH)
    chunked = not delimited and client11  # re-chunk so the client connection can live on
    if delimited:
        if length is not None:
            parts += (b"Content-Length: ", length, b"\r\n")
    elif chunked:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    else:
        keep_alive = False  # an HTTP/1.0 client can only see the end as a close
    if status == 101 or not client11 or not keep_alive:
        _add_connection(parts, status, upgrade_to, client11, keep_alive)
    parts += (b"X-Request-Id: ", request_id, b"\r\n\r\n")
    return _new(ResponseHead, (b"".join(parts), mode, chunked, keep_alive))


def _add_connection(
    parts: list[bytes], status: int, upgrade_to: bytes | None, client11: bool, keep_alive: bool
) -> None:
    if status == 101:
        parts += (b"Connection: upgrade\r\nUpgrade: ", upgrade_to or b"", b"\r\n")
    elif client11:
        if not keep_alive:
            parts.append(b"Connection: close\r\n")
    else:
        parts.append(b"Connection: keep-alive\r\n" if keep_alive else b"Connection: close\r\n")


def interim_head(status: int, reason: bytes, headers: Headers) -> bytes:
    """A 1xx informational head (100 Continue, 103 Early Hints) minus hop-by-hop headers."""
    parts = [b"HTTP/1.1 %d " % status, reason, b"\r\n"]
    for name, value in headers:
        if name.lower() not in HOP_BY_HOP:
            parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
