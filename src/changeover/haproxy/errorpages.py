"""The 502/503/504 pages HAProxy serves, in changeover's wording (pure, but `write`).

HAProxy answers these itself (a replica that closed before its response, none to route
to or none reachable, a replica too slow to start its response); the builtin proxy's
bodies say the same in `proxy.errors`' words, and so do these: rendered from the same
functions at each start, as `errorfile` responses (complete HTTP/1.0 messages HAProxy
sends as they are, with its framing). A static file cannot name the replica, so where
the builtin says `upstream r3-1 ...` these say `upstream ...`; the access log names it.

Invariant: every page is a complete response (status line, Content-Type and
Content-Length of its body, an empty line, the body), far smaller than `tune.bufsize`
(HAProxy refuses an errorfile that does not fit its buffer).
"""

from __future__ import annotations

import os
from pathlib import Path

from changeover.proxy.errors import (
    NO_REPLICA,
    REASONS,
    closed_early,
    error_body,
    not_responding,
)

STATUSES = (502, 503, 504)
MAX_PAGE = 1024  # bytes: well under HAProxy's smallest buffer


def detail(status: int, response_timeout: float) -> str:
    """What the page says after `<status> <reason>: ` (HAProxy's reasons for it)."""
    if status == 502:
        return closed_early(None)  # or an answer HAProxy could not parse
    if status == 503:
        return NO_REPLICA  # none routable, or none accepted a connection (retried)
    if status == 504:
        return not_responding(None, response_timeout)
    raise ValueError(f"no changeover page for status {status}")


def body(status: int, response_timeout: float) -> bytes:
    return error_body(status, detail(status, response_timeout))


def page(status: int, response_timeout: float) -> bytes:
    """The whole response HAProxy sends for `status`."""
    text = body(status, response_timeout)
    data = (
        b"HTTP/1.0 %d %s\r\n" % (status, REASONS[status].encode())
        + b"Cache-Control: no-cache\r\n"
        + b"Content-Type: text/plain; charset=utf-8\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(text)
        + text
    )
    if len(data) > MAX_PAGE:
        raise ValueError(f"the {status} page is {len(data)} bytes, over {MAX_PAGE}")
    return data


def file_name(status: int) -> str:
    return f"{status}.http"


def write(folder: Path, response_timeout: float) -> None:
    """The pages as files in `folder` (created 0700), each replaced whole: a HAProxy
    starting meanwhile reads the old page or the new one, never half of one."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for status in STATUSES:
        path = folder / file_name(status)
        staging = path.with_suffix(".tmp")
        staging.write_bytes(page(status, response_timeout))
        os.replace(staging, path)


__all__ = ["STATUSES", "body", "detail", "file_name", "page", "write"]
