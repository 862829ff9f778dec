"""Canned responses the proxy generates itself (400, 408, 431, 502, 503, 504).

Invariant: every generated response is complete and self-delimiting (Content-Length,
no body for HEAD) so a client can never mistake a proxy error for a truncated reply.
"""

from __future__ import annotations

REASONS: dict[int, str] = {
    400: "Bad Request",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",  # RFC 6585
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# The wording of the proxy's own answers, shared by both engines (the haproxy engine's
# error pages are rendered from these: `haproxy.errorpages`).
NO_REPLICA = "no replica is available to serve this request"
CLOSED_EARLY = "closed the connection before completing the response"


def upstream(name: str | None) -> str:
    """`upstream r3-1`, or `upstream` where the replica is not known (a static page)."""
    return "upstream" if name is None else f"upstream {name}"


def not_responding(name: str | None, timeout: float) -> str:
    return f"{upstream(name)} did not start responding within {timeout:g}s"


def closed_early(name: str | None) -> str:
    return f"{upstream(name)} {CLOSED_EARLY}"


def error_body(status: int, detail: str) -> bytes:
    return f"{status} {REASONS[status]}: {detail}\n".encode()


def error_response(
    status: int,
    detail: str,
    *,
    connection: bytes | None,
    request_id: bytes | None = None,
    head_only: bool = False,
) -> bytes:
    """Whole response as one buffer; `connection` is the Connection header value or None."""
    body = error_body(status, detail)
    parts = [
        b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status].encode()),
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n" % len(body),
    ]
    if connection is not None:
        parts.append(b"Connection: " + connection + b"\r\n")
    if request_id is not None:
        parts.append(b"X-Request-Id: " + request_id + b"\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(body)
    return b"".join(parts)
